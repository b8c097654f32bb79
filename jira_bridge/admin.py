import json

from django.contrib import admin
from django.utils.html import format_html

from jira_bridge.ledger import attempts_of
from jira_bridge.models import TicketRequest
from notifications.admin import RecordAdmin


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


@admin.register(TicketRequest)
class TicketRequestAdmin(RecordAdmin):
    list_display = ("created_at", "environment", "rule_name", "summary", "state", "ticket", "attempts")
    list_filter = ("state", "environment", "source", "rule_name", "created_at")
    search_fields = ("jira_key", "key", "rule_name", "fields__summary")
    date_hierarchy = "created_at"
    readonly_fields = ("sent_fields", "attempt_history")
    exclude = ("fields", "events")

    @admin.display(description="ticket")
    def ticket(self, obj: TicketRequest) -> str:
        if obj.jira_link:
            return format_html('<a href="{}">{}</a>', obj.jira_link, obj.jira_key)
        return obj.jira_key

    @admin.display(description="fields sent to Jira")
    def sent_fields(self, obj: TicketRequest) -> str:
        return pretty_json(obj.fields)

    @admin.display(description="attempts")
    def attempt_history(self, obj: TicketRequest) -> str:
        return pretty_json(attempts_of(obj))
