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
    history = models.JSONField(default=list, help_text="one {at, outcome, status, error} per attempt")
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
