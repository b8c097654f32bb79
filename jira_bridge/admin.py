import json

from django.contrib import admin
from django.utils.html import format_html

from jira_bridge.models import OutboxTicket, TicketRequest
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
    exclude = ("fields", "history", "events")

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
        return pretty_json(obj.history)


@admin.register(OutboxTicket)
class OutboxTicketAdmin(RecordAdmin):
    list_display = ("key", "created_at", "project", "issue_type", "summary")
    search_fields = ("fields__summary",)
    date_hierarchy = "created_at"
    readonly_fields = ("key", "created_at", "fields_as_sent")
    exclude = ("fields",)

    @admin.display(description="project")
    def project(self, obj: OutboxTicket) -> str:
        return obj.fields.get("project", {}).get("key", "")

    @admin.display(description="type")
    def issue_type(self, obj: OutboxTicket) -> str:
        return obj.fields.get("issuetype", {}).get("name", "")

    @admin.display(description="summary")
    def summary(self, obj: OutboxTicket) -> str:
        return obj.fields.get("summary", "")

    @admin.display(description="fields, exactly as Jira would get them")
    def fields_as_sent(self, obj: OutboxTicket) -> str:
        return pretty_json(obj.fields)
