from django.db import models
from django.utils import timezone

from notifications.models import Event, Source
from receivers.outbox.models import OUTBOX_PREFIX


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
    full_description = models.TextField(
        blank=True, help_text="the description as rendered, when Jira's limit cut the one in fields"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.RESERVED)
    jira_key = models.CharField(max_length=64, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    events = models.ManyToManyField(Event, related_name="ticket_requests", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="when Jira accepted it")
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="when the last attempt began")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="when a message is due to move it on (a wait, a retry, or at once)"
    )
    ambiguous_since = models.DateTimeField(null=True, blank=True)
    marked = models.BooleanField(default=False, help_text="the issue property holds the key")
    commented_events = models.PositiveIntegerField(default=0, help_text="events Jira has been told of")
    last_commented_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "updated_at"]),
            models.Index(fields=["state", "next_attempt_at"]),
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
        """Where people see the ticket: the default receiver says (an outbox key has no page)."""
        if not self.jira_key or self.jira_key.startswith(OUTBOX_PREFIX):
            return ""
        from receivers.registry import default_receiver  # kinds import their clients: not at model load

        return default_receiver().link(self.jira_key)


class DeliveryAttempt(models.Model):
    """One try at delivering a ticket request, or one look for an earlier delivery: when, what
    came of it, the receiver's status, its error, and how long it took."""

    class Outcome(models.TextChoices):
        CREATED = "created", "created"
        FOUND = "found", "found by its marker"
        TRANSIENT = "transient", "failed, tried again"
        PERMANENT = "permanent", "refused for good"
        AMBIGUOUS = "ambiguous", "unknown whether it was made"
        NOT_FOUND = "not-found", "looked for, not found"
        SEARCH_FAILED = "search-failed", "could not look"
        REPLAYED = "replayed", "replayed"

    request = models.ForeignKey(TicketRequest, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="the receiver's HTTP or SMTP status"
    )
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True, help_text="of the call to the receiver")

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["request", "at"])]

    def __str__(self) -> str:
        return f"{self.outcome} at {self.at:%Y-%m-%d %H:%M:%S}"

    def as_dict(self) -> dict:
        """As a job failure keeps a dead letter's attempts, and the API shows them."""
        return {
            "at": self.at.isoformat(),
            "outcome": self.outcome,
            "status": self.status,
            "error": self.error,
            "duration_ms": self.duration_ms,
        }
