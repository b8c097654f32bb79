from django.conf import settings
from django.db import models
from django.utils import timezone

from notifications.models import Event, Source


class TicketRequest(models.Model):
    """A ticket the hub decided to create, keyed so that the same event (or group of events)
    can never ask twice: the seed of the bridge's idempotency ledger."""

    class State(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"
        CREATED = "created", "created"
        FAILED = "failed", "failed"

    key = models.CharField(max_length=64, unique=True, help_text="rule + event (or group) identity")
    rule = models.ForeignKey("rules.Rule", null=True, blank=True, on_delete=models.SET_NULL)
    rule_name = models.CharField(max_length=128)
    environment = models.CharField(max_length=32)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.CDC)
    fields = models.JSONField(help_text="exactly the fields sent to Jira")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    jira_key = models.CharField(max_length=64, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    history = models.JSONField(default=list, help_text="one {at, outcome, status, error} per attempt")
    events = models.ManyToManyField(Event, related_name="ticket_requests", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="when Jira accepted it")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "updated_at"]),
            models.Index(fields=["environment", "-created_at"]),
            models.Index(fields=["rule_name", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.jira_key or f"request {self.pk} ({self.state})"

    @property
    def summary(self) -> str:
        return self.fields.get("summary", "")

    @property
    def jira_link(self) -> str:
        if self.jira_key and settings.JIRA_URL and not self.jira_key.startswith(OUTBOX_PREFIX):
            return f"{settings.JIRA_URL.rstrip('/')}/browse/{self.jira_key}"
        return ""


OUTBOX_PREFIX = "OUTBOX-"


class OutboxTicket(models.Model):
    """A ticket created in outbox mode (no JIRA_URL): the fields exactly as Jira would get them."""

    fields = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.key

    @property
    def key(self) -> str:
        return f"{OUTBOX_PREFIX}{self.pk}"
