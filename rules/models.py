from typing import Any

from django.db import models

from notifications.models import Source

# The keys of a rule as the rule file writes them (and validates them), in the order export_rules writes them.
SPEC_KEYS = (
    "name",
    "enabled",
    "source",
    "environments",
    "match",
    "ticket",
    "group_by",
    "group_window",
    "redact",
)
MATCH_KEYS = ("database", "table", "type", "where", "bucket", "prefix", "change")
TICKET_KEYS = ("project", "issue_type", "summary", "description", "labels", "priority")


class Rule(models.Model):
    """One rule of the rule file (see README, "Rules"). Saved only after validate_rule accepts it."""

    name = models.CharField(max_length=128, unique=True)
    enabled = models.BooleanField(default=True)
    source = models.CharField(
        max_length=8, choices=[(Source.CDC, "database change"), (Source.OSS, "object store")]
    )
    environments = models.JSONField(default=list, blank=True, help_text="empty: every environment")
    match = models.JSONField(
        default=dict,
        help_text='e.g. {"database": "shop", "table": ["orders"], "type": ["update"], '
        '"where": {"data.status": {"equals": "refunded"}}}',
    )
    project = models.CharField(max_length=64)
    issue_type = models.CharField(max_length=64, default="Task")
    summary = models.TextField(help_text="Django template, e.g. Order {{ data.id }} refunded in {{ env }}")
    description = models.TextField(blank=True, help_text="Django template")
    labels = models.JSONField(default=list, blank=True)
    priority = models.CharField(max_length=32, blank=True)
    group_by = models.JSONField(default=list, blank=True, help_text='e.g. ["env", "database", "table"]')
    group_window = models.CharField(max_length=16, blank=True, help_text="e.g. 60s, 5m, 1h")
    redact = models.JSONField(default=list, blank=True, help_text='e.g. ["data.card_number"]')
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def to_spec(self) -> dict[str, Any]:
        """The rule as the rule file writes it, leaving out keys that hold their default."""
        ticket = {k: getattr(self, k) for k in TICKET_KEYS if getattr(self, k)}
        # jsonb does not keep key order: write match keys in the documented order
        match = {k: self.match[k] for k in MATCH_KEYS if k in self.match}
        spec = {
            k: match if k == "match" else ticket if k == "ticket" else getattr(self, k) for k in SPEC_KEYS
        }
        return {k: v for k, v in spec.items() if v not in ([], "", {}) and not (k == "enabled" and v)}

    def apply_spec(self, spec: dict[str, Any]) -> None:
        """Set every field from a validated spec (see rulefile.validate_rule)."""
        ticket = spec["ticket"]
        self.name = spec["name"]
        self.enabled = spec.get("enabled", True)
        self.source = spec["source"]
        self.environments = spec.get("environments", [])
        self.match = spec["match"]
        self.project = ticket["project"]
        self.issue_type = ticket.get("issue_type", "Task")
        self.summary = ticket["summary"]
        self.description = ticket.get("description", "")
        self.labels = ticket.get("labels", [])
        self.priority = ticket.get("priority", "")
        self.group_by = spec.get("group_by", [])
        self.group_window = spec.get("group_window", "")
        self.redact = spec.get("redact", [])


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Silence(models.Model):
    """Holds back tickets for matching events: until a time, or during a recurring maintenance
    window (UTC). Silenced events are still recorded, and counted, never lost."""

    rule = models.ForeignKey(
        Rule, null=True, blank=True, on_delete=models.CASCADE, help_text="empty: every rule"
    )
    environment = models.CharField(max_length=32, blank=True, help_text="empty: every environment")
    database = models.CharField(max_length=64, blank=True, help_text="empty: every database")
    table = models.CharField(max_length=64, blank=True, help_text="empty: every table")
    until = models.DateTimeField(null=True, blank=True, help_text="silent until then")
    weekdays = models.CharField(
        max_length=27, blank=True, help_text="recurring window: e.g. sat,sun (empty: every day)"
    )
    starts = models.TimeField(null=True, blank=True, help_text="recurring window start, UTC")
    ends = models.TimeField(null=True, blank=True, help_text="recurring window end, UTC (may pass midnight)")
    reason = models.CharField(max_length=255)
    enabled = models.BooleanField(default=True)
    silenced_events = models.PositiveBigIntegerField(default=0, editable=False)
    created_by = models.CharField(max_length=150, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reason

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if (self.starts is None) != (self.ends is None):
            raise ValidationError("A recurring window needs both a start and an end.")
        if self.until is None and self.starts is None:
            raise ValidationError("Say until when, or give a recurring window (start and end).")
        unknown = [d for d in self.days() if d not in WEEKDAYS]
        if unknown:
            raise ValidationError(f"Unknown weekdays {unknown}: use {', '.join(WEEKDAYS)}.")

    def days(self) -> list[str]:
        return [d.strip().lower() for d in self.weekdays.split(",") if d.strip()]

    def covers(self, rule_id: int, environment: str, database: str, table: str, at) -> bool:
        """Whether this silence holds back a ticket of ``rule_id`` for an event at ``at``."""
        scope = (
            (self.rule_id is None or self.rule_id == rule_id)
            and self.environment in ("", environment)
            and self.database in ("", database)
            and self.table in ("", table)
        )
        return scope and self.enabled and self.active_at(at)

    def active_at(self, at) -> bool:
        if self.until is not None and at >= self.until:
            return False
        if self.starts is None:
            return True
        days, clock = self.days(), at.time()
        if self.starts <= self.ends:
            day = WEEKDAYS[at.weekday()]
            return (not days or day in days) and self.starts <= clock < self.ends
        # a window that passes midnight belongs to the day it starts on
        if clock >= self.starts:
            return not days or WEEKDAYS[at.weekday()] in days
        return clock < self.ends and (not days or WEEKDAYS[(at.weekday() - 1) % 7] in days)
