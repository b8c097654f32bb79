"""Matching events against rules: rules compiled once into an index by environment, database,
table and type, then conditions checked on the few candidates."""

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db.models import Count, Max
from django.template import Template

from receivers.base import Ticket, one_line
from rules.models import Rule
from rules.redaction import Redactor
from rules.render import TemplateFailure, compile_template, render_text
from rules.rulefile import compile_pattern, parse_duration, validate_rule

MISSING = object()
NUMERIC = frozenset("0123456789+-.")
OSS_FIELDS = ("bucket", "key", "size", "etag", "last_modified", "change")
# (path, operator, argument, identity): rules sharing a condition share its identity, so one
# event evaluates it once however many candidate rules ask.
Condition = tuple[tuple[str, ...], str, Any, tuple]


@dataclass
class CompiledRule:
    id: int
    name: str
    source: str
    environments: frozenset[str] | None
    databases: frozenset[str] | None
    tables: frozenset[str] | None
    types: frozenset[str] | None
    conditions: list[Condition]
    extras: dict[str, dict[str, Any]]  # by receiver kind: Jira's project and issue type
    summary: Template
    description: Template | None
    labels: list[str]
    priority: str
    group_by: list[str]
    group_window: int | None

    def applies_to(self, env: str, database: str, table: str, kind: str) -> bool:
        return all(
            allowed is None or value in allowed
            for allowed, value in (
                (self.environments, env),
                (self.databases, database),
                (self.tables, table),
                (self.types, kind),
            )
        )

    def holds_for(self, event: dict[str, Any], memo: dict[tuple, bool] | None = None) -> bool:
        memo = {} if memo is None else memo
        for path, op, arg, identity in self.conditions:
            held = memo.get(identity)
            if held is None:
                held = memo[identity] = condition_holds(op, arg, event, path)
            if not held:
                return False
        return True

    def render(self, env: str, event: dict[str, Any], event_id: str) -> Ticket:
        """The ticket for one event, already redacted (see rules.redaction); raises
        TemplateFailure."""
        if self.source == "oss":
            context = {name: event.get(name) for name in OSS_FIELDS} | {"env": env, "rule": self.name}
        else:
            context = self.cdc_context(env, event, event_id)
        title = one_line(render_text(self.summary, context))
        if not title:  # every receiver refuses a ticket without one, on every replay alike
            raise TemplateFailure("the summary rendered empty (a ticket needs a title)")
        return Ticket(
            title=title,
            body=render_text(self.description, context) if self.description is not None else "",
            labels=tuple(self.labels),
            priority=self.priority,
            extras=self.extras,
        )

    def cdc_context(self, env: str, event: dict[str, Any], event_id: str) -> dict[str, Any]:
        return {
            "env": env,
            "database": event.get("database", ""),
            "table": event.get("table", ""),
            "type": event.get("type", ""),
            "ts": event.get("ts"),
            "xid": event.get("xid"),
            "data": event.get("data"),
            "old": event.get("old"),
            "event_id": event_id,
            "rule": self.name,
        }

    def event_key(self, event_id: str) -> str:
        """The ledger key of an ungrouped rule's ticket for one event."""
        return digest(f"{self.name}|event|{event_id}")

    def group_key(self, env: str, event: dict[str, Any]) -> str | None:
        """The group an event belongs to under a grouped rule (None for an ungrouped one). Which
        ticket of the group it joins depends on the window, decided in the ledger."""
        if not self.group_by:
            return None
        values = [group_value(name, env, event) for name in self.group_by]
        return digest(f"{self.name}|group|{values!r}")


def digest(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:40]


def group_value(name: str, env: str, event: dict[str, Any]) -> Any:
    if name == "env":
        return env
    if "." in name:
        value = lookup(event, tuple(name.split(".")))
        return None if value is MISSING else value
    return event.get(name)


def compile_rule(rule: Rule) -> CompiledRule:
    """Compile a saved rule; raises RuleError if it no longer validates."""
    spec = validate_rule(rule.to_spec())
    match, ticket = spec["match"], spec["ticket"]
    conditions = []
    for path, condition in match.get("where", {}).items():
        parts = tuple(path.split("."))
        for op, arg in condition.items():
            identity = (parts, op, repr(arg))
            if op == "matches":
                arg = compile_pattern(str(arg))
            elif op in ("gt", "lt"):
                arg = to_number(arg)  # once, not per event
            conditions.append((parts, op, arg, identity))

    def frozen(values: list[str] | None) -> frozenset[str] | None:
        return frozenset(values) if values else None

    if spec["source"] == "oss":  # an OSS event: database is its bucket, type its change
        databases, tables, types = match.get("bucket"), None, match.get("change")
        if match.get("prefix"):
            conditions.append((("key",), "prefix", match["prefix"], (("key",), "prefix", match["prefix"])))
    else:
        databases, tables, types = match.get("database"), match.get("table"), match.get("type")
    return CompiledRule(
        id=rule.pk,
        name=spec["name"],
        source=spec["source"],
        environments=frozen(spec.get("environments")),
        databases=frozen(databases),
        tables=frozen(tables),
        types=frozen(types),
        conditions=conditions,
        extras={"jira": {"project": ticket["project"], "issue_type": ticket["issue_type"]}},
        summary=compile_template(ticket["summary"]),
        description=compile_template(ticket["description"]) if "description" in ticket else None,
        labels=ticket.get("labels", []),
        priority=ticket.get("priority", ""),
        group_by=spec.get("group_by", []),
        group_window=parse_duration(spec["group_window"]) if spec.get("group_window") else None,
    )


class RuleIndex:
    """Enabled rules of one source, with the candidates for each (env, database, table, type)
    worked out once and remembered; and the redaction every event of the source gets."""

    def __init__(self, rules: Iterable[CompiledRule], redactor: Redactor | None = None) -> None:
        self.rules = list(rules)
        self.redactor = redactor or Redactor(settings.HUB_REDACT_NAMES)
        self._candidates: dict[tuple[str, str, str, str], list[CompiledRule]] = {}

    def match(self, env: str, event: dict[str, Any]) -> list[CompiledRule]:
        key = (env, event.get("database", ""), event.get("table", ""), event.get("type", ""))
        candidates = self._candidates.get(key)
        if candidates is None:
            candidates = self._candidates[key] = [r for r in self.rules if r.applies_to(*key)]
        memo: dict[tuple, bool] = {}
        return [rule for rule in candidates if rule.holds_for(event, memo)]


_cache: dict[str, tuple[Any, RuleIndex, list[tuple[Rule, Exception]]]] = {}


def load_rule_index(source: str) -> tuple[RuleIndex, list[tuple[Rule, Exception]]]:
    """The index of enabled rules for a source, rebuilt only when rules changed; also the rules
    that failed to compile (each should be recorded, and is left out)."""
    fingerprint = tuple(
        Rule.objects.filter(source=source).aggregate(n=Count("id"), at=Max("updated_at")).values()
    )
    cached = _cache.get(source)
    if cached and cached[0] == fingerprint:
        return cached[1], cached[2]
    compiled, broken, paths = [], [], []
    for rule in Rule.objects.filter(source=source):
        paths += [p for p in rule.redact if isinstance(p, str)] if isinstance(rule.redact, list) else []
        if not rule.enabled:
            continue
        try:
            compiled.append(compile_rule(rule))
        except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the others
            broken.append((rule, exc))
    index = RuleIndex(compiled, Redactor(settings.HUB_REDACT_NAMES, paths))
    _cache[source] = (fingerprint, index, broken)
    return index, broken


def lookup(event: dict[str, Any], parts: tuple[str, ...]) -> Any:
    value: Any = event
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def condition_holds(op: str, arg: Any, event: dict[str, Any], path: tuple[str, ...]) -> bool:
    """One condition of a rule's ``where``. A missing path fails every condition but
    ``exists: false``; ``changed`` asks whether the column is in ``old``."""
    if op == "changed":
        old = event.get("old")
        return (isinstance(old, dict) and path[1] in old) == arg
    value = lookup(event, path)
    if op == "exists":
        return (value is not MISSING) == arg
    if value is MISSING:
        return False
    if op == "equals":
        return same(value, arg)
    if op == "not_equals":
        return not same(value, arg)
    if op == "in":
        return any(same(value, candidate) for candidate in arg)
    if op == "matches":
        return value is not None and arg.search(str(value)) is not None
    if op == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    number = to_number(value)
    if number is None:
        return False
    return number > arg if op == "gt" else number < arg


def same(value: Any, expected: Any) -> bool:
    """Equality that lets 5 equal "5" and "5.0" equal 5.0 (Maxwell writes DECIMAL as numbers
    or strings depending on settings), but never a list or mapping equal a string."""
    if value == expected:
        return True
    if (
        type(value) is str
        and type(expected) is str
        and not (value[:1] in NUMERIC and expected[:1] in NUMERIC)
    ):
        return False  # two different words: the common case, decided without numbers
    scalar = (str, int, float, Decimal)
    if isinstance(value, scalar) and isinstance(expected, scalar):
        a, b = to_number(value), to_number(expected)
        return (a is not None and a == b) or str(value) == str(expected)
    return False


def to_number(value: Any) -> Decimal | int | None:
    """A value as an exact number, or None. Event values are exact already (ints and Decimals,
    see cdc_publisher.exactjson); a float (a rule file's ``gt: 0.1``) is taken as written, so
    0.1 is 0.1 and not the binary fraction nearest to it."""
    if isinstance(value, bool) or value is None:
        return None
    if type(value) is int:
        return value
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if type(value) is float:
        return Decimal(repr(value)) if math.isfinite(value) else None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
