from django.contrib import admin, messages
from django.http import HttpRequest

from hub.roles import REPLAY_PERMISSION
from notifications.models import AuditEntry, DailyStat, ErrorLog, Event, JobFailure, Notification


class RecordAdmin(admin.ModelAdmin):
    """Records are written by the hub, never edited by hand: viewable, not addable or changeable."""

    list_per_page = 50
    show_full_result_count = False  # COUNT(*) on a large table on every page load is costly

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(RecordAdmin):
    list_display = ("received_at", "environment", "type", "database", "table", "outcome", "tickets")
    list_filter = ("environment", "source", "outcome", "type", "received_at")
    search_fields = ("event_id", "database", "table", "origin")
    date_hierarchy = "received_at"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("ticket_requests")

    @admin.display(description="tickets")
    def tickets(self, obj: Event) -> str:
        return ", ".join(r.jira_key or f"({r.state})" for r in obj.ticket_requests.all())


@admin.register(ErrorLog)
class ErrorLogAdmin(RecordAdmin):
    list_display = ("created_at", "kind", "source", "environment", "where", "message")
    list_filter = ("kind", "source", "environment", "created_at")
    search_fields = ("message", "where", "raw")
    date_hierarchy = "created_at"


@admin.register(JobFailure)
class JobFailureAdmin(RecordAdmin):
    list_display = ("created_at", "task_name", "environment", "subject", "state", "last_error")
    list_filter = ("state", "task_name", "environment", "created_at")
    search_fields = ("subject", "task_id", "last_error")
    date_hierarchy = "created_at"
    actions = ["replay_dead_letters"]

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REPLAY_PERMISSION)

    @admin.action(
        description="Replay the selected dead letters (a ticket that exists is not created again)",
        permissions=["replay"],
    )
    def replay_dead_letters(self, request: HttpRequest, queryset) -> None:
        from jira_bridge.tasks import replay_and_send  # jira_bridge builds on these records

        plan = replay_and_send(queryset, actor=request.user.get_username())
        self.message_user(request, f"Replayed: {plan.summary()}", messages.SUCCESS)


@admin.register(AuditEntry)
class AuditEntryAdmin(RecordAdmin):
    list_display = ("created_at", "action", "actor", "environment", "summary")
    list_filter = ("action", "environment", "actor", "created_at")
    search_fields = ("summary", "object_id", "actor")
    date_hierarchy = "created_at"


@admin.register(Notification)
class NotificationAdmin(RecordAdmin):
    list_display = ("created_at", "level", "environment", "title")
    list_filter = ("level", "environment", "created_at")
    search_fields = ("title", "body")
    date_hierarchy = "created_at"


@admin.register(DailyStat)
class DailyStatAdmin(RecordAdmin):
    list_display = (
        "day",
        "environment",
        "source",
        "rule",
        "events",
        "duplicates",
        "matched",
        "silenced",
        "tickets",
        "failures",
        "bad_input",
        "latency_p50_ms",
        "latency_p95_ms",
    )
    list_filter = ("environment", "source", "day")
    search_fields = ("rule",)
    date_hierarchy = "day"
