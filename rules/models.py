from typing import Any

from django.db import models

from notifications.models import Source

# The keys of a rule as the rule file writes them, in the order export_rules writes them.
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
        spec = {
            "name": self.name,
            "enabled": self.enabled,
            "source": self.source,
            "environments": self.environments,
            # jsonb does not keep key order: write match keys in the documented order
            "match": {k: self.match[k] for k in MATCH_KEYS if k in self.match},
            "ticket": ticket,
            "group_by": self.group_by,
            "group_window": self.group_window,
            "redact": self.redact,
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
