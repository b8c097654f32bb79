from django.conf import settings
from django.db import models
from django.utils import timezone

from notifications.models import Event, Source


class TicketRequest(models.Model):
    """A ticket the hub decided to create: a row of the idempotency ledger.

    Its key (rule + event, or rule + group + window) is unique, so a redelivery, a replay or a
    second worker can never ask twice. States: reserved (to be created) -> creating (claimed by
    one worker) -> created, or failed, or ambiguous (the create may have happened: the marker is
    looked for in Jira before anything is created again).
    """

    class State(models.TextChoices):
        RESERVED = "reserved", "reserved"
        CREATING = "creating", "creating"
        CREATED = "created", "created"
        FAILED = "failed", "failed"
        AMBIGUOUS = "ambiguous", "ambiguous"

    key = models.CharField(max_length=64, unique=True, help_text="rule + event (or group + window) identity")
    group_key = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="grouped rules: the group"
    )
    window_ends_at = models.DateTimeField(
        null=True, blank=True, help_text="grouped rules: events until then join"
    )
    rule = models.ForeignKey("rules.Rule", null=True, blank=True, on_delete=models.SET_NULL)
    rule_name = models.CharField(max_length=128)
    environment = models.CharField(max_length=32)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.CDC)
    fields = models.JSONField(help_text="exactly the fields sent to Jira")
    state = models.CharField(max_length=16, choices=State.choices, default=State.RESERVED)
    jira_key = models.CharField(max_length=64, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    history = models.JSONField(default=list, help_text="one {at, outcome, status, error} per attempt")
    events = models.ManyToManyField(Event, related_name="ticket_requests", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="when Jira accepted it")
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="when the last attempt began")
    ambiguous_since = models.DateTimeField(null=True, blank=True)
    marked = models.BooleanField(default=False, help_text="the issue property holds the key")
    commented_events = models.PositiveIntegerField(default=0, help_text="events Jira has been told of")
    last_commented_at = models.DateTimeField(null=True, blank=True)

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
    def marker(self) -> str:
        """The label that finds this request's issue in Jira."""
        return marker_label(self.key)

    @property
    def summary(self) -> str:
        return self.fields.get("summary", "")

    @property
    def jira_link(self) -> str:
        if self.jira_key and settings.JIRA_URL and not self.jira_key.startswith(OUTBOX_PREFIX):
            return f"{settings.JIRA_URL.rstrip('/')}/browse/{self.jira_key}"
        return ""


OUTBOX_PREFIX = "OUTBOX-"


def marker_label(key: str) -> str:
    return f"hub-{key[:20]}"


class OutboxTicket(models.Model):
    """A ticket created in outbox mode (no JIRA_URL): the fields exactly as Jira would get them."""

    fields = models.JSONField()
    comments = models.JSONField(default=list, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.key

    @staticmethod
    def pk_of(key: str) -> int:
        return int(key.removeprefix(OUTBOX_PREFIX))

    @property
    def key(self) -> str:
        return f"{OUTBOX_PREFIX}{self.pk}"
