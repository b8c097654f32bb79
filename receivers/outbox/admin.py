import json

from django.contrib import admin
from django.utils.html import format_html

from notifications.admin import RecordAdmin
from receivers.outbox.models import OutboxTicket


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


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
