from django.db import models
from django.utils import timezone

from notifications.fields import ExactJSONField


class Source(models.TextChoices):
    CDC = "cdc", "database change"
    OSS = "oss", "object store"
    JIRA = "jira", "Jira"
    RULES = "rules", "rules"
    SYSTEM = "system", "system"


class Event(models.Model):
    """One change event as it reached the hub: the inbound half of the audit trail."""

    class Outcome(models.TextChoices):
        MATCHED = "matched", "matched a rule"
        UNMATCHED = "unmatched", "no rule matched"
        SILENCED = "silenced", "matched, but silenced"
        RECORDED = "recorded", "recorded only (DDL, bootstrap control)"

    received_at = models.DateTimeField(default=timezone.now)
    environment = models.CharField(max_length=32)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.CDC)
    event_id = models.CharField(
        max_length=255, unique=True, help_text="deterministic identity: a redelivery has the same one"
    )
    database = models.CharField(max_length=64, blank=True)
    table = models.CharField(max_length=64, blank=True)
    type = models.CharField(max_length=32)
    occurred_at = models.DateTimeField(null=True, blank=True, help_text="when the source changed")
    origin = models.CharField(max_length=255, blank=True, help_text="publisher and input line")
    payload = ExactJSONField(help_text="the event as received, numbers exact, secrets redacted")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["environment", "-received_at"]),
            models.Index(fields=["outcome", "-received_at"]),
            models.Index(fields=["database", "table", "-received_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.environment} {self.type} {self.database}.{self.table} #{self.pk}"


class ErrorLog(models.Model):
    """Something that went wrong with an input or a step: what, where, and the raw input."""

    class Kind(models.TextChoices):
        BAD_INPUT = "bad_input", "bad input"
        TEMPLATE = "template", "template error"
        RULE_FILE = "rule_file", "rule file refused"
        JIRA = "jira", "Jira error"
        OSS = "oss", "OSS check failed"
        INTERNAL = "internal", "internal error"

    created_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    source = models.CharField(max_length=8, choices=Source.choices)
    environment = models.CharField(max_length=32, blank=True)
    where = models.CharField(max_length=255, blank=True, help_text="e.g. publisher and line number")
    message = models.TextField()
    raw = models.TextField(
        blank=True, help_text="the raw input, secrets redacted where it parses (see raw_redacted)"
    )
    raw_redacted = models.BooleanField(
        default=True, help_text="false: it did not parse, so it is kept as it came (operators only)"
    )
    context = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("see_raw_input", "Can see raw input that could not be redacted")]
        indexes = [
            models.Index(fields=["kind", "-created_at"]),
            models.Index(fields=["environment", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message[:80]}"


class StoredBatch(models.Model):
    """A batch of events whose processing failed, kept so that it can be replayed: each event as
    parsed (numbers exact, secrets redacted) with the id it was given on arrival, so a replay is
    deduplicated against what did get stored; the lines the publisher rejected, likewise."""

    created_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=8, choices=Source.choices)
    environment = models.CharField(max_length=32)
    origin = models.CharField(max_length=255, blank=True, help_text="publisher, or OSS check")
    # JSON text, not jsonb: it keeps whatever the events hold (jsonb refuses some numbers).
    events = models.TextField(default="[]", help_text="JSON: [[line, event id, event], ...]")
    rejects = models.TextField(default="[]", help_text="JSON: the error records of its rejected lines")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "stored batches"

    def __str__(self) -> str:
        return f"{self.environment} {self.source} batch {self.pk} from {self.origin}"


class JobFailure(models.Model):
    """A job that failed for good, with what it was about and every attempt, so it can be
    replayed: a ticket request (a dead letter) or a stored batch of events."""

    class State(models.TextChoices):
        FAILED = "failed", "failed"
        REPLAYED = "replayed", "replayed"
        RESOLVED = "resolved", "resolved"

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    task_name = models.CharField(max_length=128)
    task_id = models.CharField(max_length=64, blank=True)
    queue = models.CharField(max_length=64, blank=True)
    environment = models.CharField(max_length=32, blank=True)
    ticket_request = models.ForeignKey(
        "jira_bridge.TicketRequest", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="failures", help_text="the ticket request given up on (a dead letter)",
    )  # fmt: skip
    batch = models.ForeignKey(
        StoredBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="failures",
        help_text="the batch of events that could not be processed",
    )  # fmt: skip
    payload = ExactJSONField(default=dict)
    attempts = models.JSONField(default=list, help_text="[{at, status, error}] per attempt")
    last_error = models.TextField(blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.FAILED)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("replay_jobfailure", "Can replay dead letters")]
        indexes = [
            models.Index(fields=["state", "-created_at"]),
            models.Index(fields=["environment", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.task_name} {self.subject} ({self.state})"

    @property
    def subject(self) -> str:
        """What failed, for people: the ticket request or the batch."""
        if self.ticket_request_id:
            return f"ticket request {self.ticket_request_id}"
        if self.batch_id:
            return f"batch {self.batch_id}"
        return "-"


class AuditEntry(models.Model):
    """What the hub (or a person) did: one row per action, with named action constants."""

    EVENTS_RECEIVED = "events.received"
    TICKET_REQUESTED = "ticket.requested"
    TICKET_CREATED = "ticket.created"
    TICKET_FAILED = "ticket.failed"
    TICKET_COMMENTED = "ticket.commented"
    TICKET_REPLAYED = "ticket.replayed"
    BREAKER_CHANGED = "breaker.changed"
    RULES_IMPORTED = "rules.imported"
    RECORDS_PRUNED = "records.pruned"
    ACTIONS = [
        (EVENTS_RECEIVED, "events received"),
        (TICKET_REQUESTED, "ticket requested"),
        (TICKET_CREATED, "ticket created"),
        (TICKET_FAILED, "ticket failed"),
        (TICKET_COMMENTED, "ticket commented"),
        (TICKET_REPLAYED, "dead letter replayed"),
        (BREAKER_CHANGED, "circuit breaker changed"),
        (RULES_IMPORTED, "rules imported"),
        (RECORDS_PRUNED, "old records pruned"),
    ]

    created_at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=32, choices=ACTIONS)
    actor = models.CharField(max_length=150, default="system")
    environment = models.CharField(max_length=32, blank=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.TextField()
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit trail"
        indexes = [
            models.Index(fields=["action", "-created_at"]),
            models.Index(fields=["environment", "-created_at"]),
            models.Index(fields=["object_type", "object_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.action}: {self.summary[:80]}"


class Notification(models.Model):
    """A message for the people running the hub: a ticket created, a job that failed."""

    class Level(models.TextChoices):
        INFO = "info", "info"
        WARNING = "warning", "warning"
        ERROR = "error", "error"

    created_at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    environment = models.CharField(max_length=32, blank=True)
    title = models.CharField(max_length=255)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["level", "-created_at"]),
            models.Index(fields=["environment", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.title


class DailyStat(models.Model):
    """Counters per day, environment, source and rule ('' for events no rule claimed), bumped as
    things happen; ticket latencies filled in by hub.retention.aggregate_daily_stats."""

    day = models.DateField()
    environment = models.CharField(max_length=32)
    source = models.CharField(max_length=8, choices=Source.choices)
    rule = models.CharField(max_length=128, blank=True)
    events = models.PositiveBigIntegerField(default=0)
    duplicates = models.PositiveBigIntegerField(default=0, help_text="exact redeliveries dropped")
    matched = models.PositiveBigIntegerField(default=0)
    silenced = models.PositiveBigIntegerField(default=0, help_text="matches held back by a silence")
    tickets = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveBigIntegerField(default=0)
    bad_input = models.PositiveBigIntegerField(default=0)
    latency_p50_ms = models.FloatField(
        null=True,
        blank=True,
        help_text="from the ticket request being reserved (event received) to Jira accepting it, "
        "tickets sent that day: median",
    )
    latency_p95_ms = models.FloatField(
        null=True,
        blank=True,
        help_text="from the ticket request being reserved (event received) to Jira accepting it, "
        "tickets sent that day: 95th percentile",
    )

    class Meta:
        ordering = ["-day", "environment", "source", "rule"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "environment", "source", "rule"], name="dailystat_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.environment} {self.source} {self.rule or '-'}"
