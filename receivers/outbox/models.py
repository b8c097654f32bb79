from django.db import models
from django.utils import timezone

OUTBOX_PREFIX = "OUTBOX-"


class OutboxTicket(models.Model):
    """A ticket created in outbox mode (no JIRA_URL): the fields exactly as Jira would get them."""

    fields = models.JSONField()
    comments = models.JSONField(default=list, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "jira_bridge_outboxticket"  # made by jira_bridge, where the model lived first
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.key

    @staticmethod
    def pk_of(key: str) -> int:
        return int(key.removeprefix(OUTBOX_PREFIX))

    @property
    def key(self) -> str:
        return f"{OUTBOX_PREFIX}{self.pk}"
