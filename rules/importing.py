"""Importing a rule file into the database: all rules or none."""

from dataclasses import dataclass

from django.db import transaction

from notifications.models import AuditEntry
from notifications.records import record_audit
from rules.models import Rule
from rules.rulefile import load_rule_file


@dataclass
class ImportResult:
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    deleted: list[str]

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.deleted)} deleted"
        )


@transaction.atomic
def import_rules(text: str, *, prune: bool = False, actor: str = "system") -> ImportResult:
    """Validate the whole file first (RuleError lists every problem), then create or update rules
    by name in one transaction; with ``prune``, delete rules the file does not name."""
    specs = load_rule_file(text)
    existing = {rule.name: rule for rule in Rule.objects.select_for_update()}
    result = ImportResult([], [], [], [])
    for spec in specs:
        rule = existing.get(spec["name"])
        if rule is not None and rule.to_spec() == spec:
            result.unchanged.append(spec["name"])
            continue
        (result.updated if rule else result.created).append(spec["name"])
        rule = rule or Rule()
        rule.apply_spec(spec)
        rule.save()
    if prune:
        named = {spec["name"] for spec in specs}
        result.deleted = sorted(set(existing) - named)
        Rule.objects.filter(name__in=result.deleted).delete()
    record_audit(AuditEntry.RULES_IMPORTED, result.summary(), actor=actor, extra=result.__dict__)
    return result
