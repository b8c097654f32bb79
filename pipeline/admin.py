from django.contrib import admin, messages
from django.http import HttpRequest

from core.roles import REPLAY_PERMISSION
from notifications.admin import RecordAdmin
from notifications.models import JobFailure
from pipeline.replay import replay_and_send


# Job failures are the records' (notifications); shown here, where replaying them is known.
@admin.register(JobFailure)
class JobFailureAdmin(RecordAdmin):
    list_display = ("created_at", "task_name", "environment", "subject", "state", "last_error")
    list_filter = ("state", "task_name", "environment", "created_at")
    search_fields = ("task_id", "last_error")
    date_hierarchy = "created_at"
    actions = ["replay_dead_letters"]

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REPLAY_PERMISSION)

    @admin.action(
        description="Replay the selected dead letters (a ticket that exists is not created again)",
        permissions=["replay"],
    )
    def replay_dead_letters(self, request: HttpRequest, queryset) -> None:
        plan = replay_and_send(queryset, actor=request.user.get_username())
        self.message_user(request, f"Replayed: {plan.summary()}", messages.SUCCESS)
