"""The rule file, version 1: validation (every key understood, every error named by rule and key
path), and conversion between YAML text and validated rule specs.

A spec is the rule as a plain dict in its canonical form: lists where the file allows a single
value, conditions always as mappings, durations as written. ``validate_rule`` returns it.
"""

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import re2
import yaml
from django.conf import settings
from django.template import TemplateSyntaxError

from cdc_publisher.events import ROW_TYPES
from receivers.registry import label_problems
from rules.models import SPEC_KEYS, TICKET_KEYS
from rules.render import compile_template

FILE_VERSION = 1
RULE_KEYS = set(SPEC_KEYS)
CDC_MATCH_KEYS = {"database", "table", "type", "where"}
OSS_MATCH_KEYS = {"bucket", "prefix", "change"}
OSS_CHANGES = ("created", "modified", "deleted")
CONDITIONS = {"equals", "not_equals", "in", "exists", "changed", "matches", "gt", "lt"}
GROUP_FIELDS = {"cdc": {"env", "database", "table", "type"}, "oss": {"env", "bucket", "change"}}
DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)?$")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
# RE2's own memory bound per pattern (its default, 8 MiB) stays: a pattern needing more is refused.
PATTERN_OPTIONS = re2.Options()
PATTERN_OPTIONS.log_errors = False  # a refused pattern is reported to its author, not to stderr


class RuleError(ValueError):
    """A rule or rule file that cannot be accepted. ``problems`` lists each as 'rule: path: why'."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``90``, ``60s``, ``5m``, ``1h`` or ``1d``."""
    found = DURATION.match(str(text).strip())
    if not found or int(found.group(1)) <= 0:
        raise ValueError(f"not a duration: {text!r} (write e.g. 60s, 5m, 1h)")
    return int(found.group(1)) * DURATION_UNITS[found.group(2)]


def compile_pattern(text: str) -> Any:
    """A ``matches:`` pattern compiled by RE2, which matches in time linear in the text: Python's
    ``re`` backtracks, and ``(a+)+$`` against 28 a's and a ``!`` holds a worker for a minute.
    Raises ValueError with RE2's reason."""
    try:
        return re2.compile(text, PATTERN_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        raise ValueError(reason.decode() if isinstance(reason, bytes) else str(reason)) from None


def load_rule_file(text: str) -> list[dict[str, Any]]:
    """Parse and validate a whole rule file; raise RuleError listing every problem found."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError([f"not valid YAML: {exc}"]) from None
    if not isinstance(document, dict) or "rules" not in document:
        raise RuleError(["the file must be a mapping with a 'rules' list"])
    problems = [f"{key}: unknown key" for key in document if key not in {"version", "rules"}]
    if document.get("version", FILE_VERSION) != FILE_VERSION:
        problems.append(f"version: only version {FILE_VERSION} is understood")
    if not isinstance(document["rules"], list):
        raise RuleError([*problems, "rules: must be a list"])
    specs, seen = [], set()
    for position, raw in enumerate(document["rules"]):
        label = raw.get("name") if isinstance(raw, dict) and isinstance(raw.get("name"), str) else None
        label = f"rule {label!r}" if label else f"rules[{position}]"
        try:
            spec = validate_rule(raw)
        except RuleError as exc:
            problems += [f"{label}: {p}" for p in exc.problems]
            continue
        if spec["name"] in seen:
            problems.append(f"{label}: name: used by an earlier rule in this file")
        seen.add(spec["name"])
        specs.append(spec)
    if problems:
        raise RuleError(problems)
    return specs


def dump_rule_file(specs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump(
        {"version": FILE_VERSION, "rules": specs}, sort_keys=False, allow_unicode=True, width=100
    )


def validate_rule(raw: Any) -> dict[str, Any]:
    """Check one rule and return its canonical spec; raise RuleError with 'path: why' problems."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise RuleError(["a rule must be a mapping"])
    problems += [f"{key}: unknown key" for key in raw if key not in RULE_KEYS]
    spec: dict[str, Any] = {}

    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("name: required, a non-empty string")
    else:
        spec["name"] = name.strip()
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append("enabled: must be true or false")
    elif not enabled:
        spec["enabled"] = False
    source = raw.get("source", "cdc")
    if source not in GROUP_FIELDS:
        problems.append(f"source: must be cdc or oss, not {source!r}")
        source = "cdc"
    spec["source"] = source

    environments = string_list(raw.get("environments", []), "environments", problems)
    for env in environments:
        if env not in settings.HUB_ENVIRONMENTS:
            problems.append(
                f"environments: unknown environment {env!r} (HUB_ENVIRONMENTS is "
                f"{', '.join(settings.HUB_ENVIRONMENTS)})"
            )
    if environments:
        spec["environments"] = environments

    match = raw.get("match", {})
    if not isinstance(match, dict):
        problems.append("match: must be a mapping")
        match = {}
    spec["match"] = (
        validate_cdc_match(match, problems) if source == "cdc" else validate_oss_match(match, problems)
    )

    ticket = raw.get("ticket")
    if not isinstance(ticket, dict):
        problems.append("ticket: required, a mapping with at least project and summary")
        ticket = {}
    spec["ticket"] = validate_ticket(ticket, problems)

    group_by = string_list(raw.get("group_by", []), "group_by", problems)
    for field in group_by:
        if field not in GROUP_FIELDS[source] and not field.startswith(("data.", "old.")):
            allowed = ", ".join(sorted(GROUP_FIELDS[source]))
            problems.append(f"group_by: unknown field {field!r} (use {allowed}, or data.COLUMN)")
    if group_by:
        spec["group_by"] = group_by
    if "group_window" in raw:
        try:
            parse_duration(raw["group_window"])
            spec["group_window"] = str(raw["group_window"]).strip()
        except ValueError as exc:
            problems.append(f"group_window: {exc}")
        if not group_by:
            problems.append("group_window: needs group_by")
    redact = string_list(raw.get("redact", []), "redact", problems)
    if redact:
        spec["redact"] = redact

    if problems:
        raise RuleError(problems)
    return spec


def validate_cdc_match(match: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    problems += [
        f"match.{key}: unknown key for source cdc (use {', '.join(sorted(CDC_MATCH_KEYS))})"
        for key in match
        if key not in CDC_MATCH_KEYS
    ]
    out: dict[str, Any] = {}
    for key in ("database", "table"):
        names = string_list(match.get(key, []), f"match.{key}", problems)
        if names:
            out[key] = names
    types = string_list(match.get("type", []), "match.type", problems)
    for kind in types:
        if kind not in ROW_TYPES:
            problems.append(f"match.type: unknown type {kind!r} (use {', '.join(sorted(ROW_TYPES))})")
    if types:
        out["type"] = types
    where = match.get("where", {})
    if not isinstance(where, dict):
        problems.append("match.where: must be a mapping of path to condition")
        where = {}
    conditions = {}
    for path, condition in where.items():
        conditions[path] = validate_condition(str(path), condition, f"match.where.{path}", problems)
    if conditions:
        out["where"] = conditions
    return out


def validate_oss_match(match: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    problems += [
        f"match.{key}: unknown key for source oss (use {', '.join(sorted(OSS_MATCH_KEYS))})"
        for key in match
        if key not in OSS_MATCH_KEYS
    ]
    out: dict[str, Any] = {}
    buckets = string_list(match.get("bucket", []), "match.bucket", problems)
    if buckets:
        out["bucket"] = buckets
    if "prefix" in match:
        if isinstance(match["prefix"], str):
            out["prefix"] = match["prefix"]
        else:
            problems.append("match.prefix: must be a string")
    changes = string_list(match.get("change", []), "match.change", problems)
    for change in changes:
        if change not in OSS_CHANGES:
            problems.append(f"match.change: unknown change {change!r} (use {', '.join(OSS_CHANGES)})")
    if changes:
        out["change"] = changes
    return out


def validate_condition(path: str, condition: Any, where: str, problems: list[str]) -> dict[str, Any]:
    """A condition on one path; a bare value is shorthand for ``{equals: value}``."""
    if not path.startswith(("data.", "old.")) or path.endswith("."):
        problems.append(f"{where}: a path must start with data. or old. (e.g. data.status)")
    if not isinstance(condition, dict):
        condition = {"equals": condition}
    for op, arg in condition.items():
        if op not in CONDITIONS:
            problems.append(f"{where}.{op}: unknown condition (use {', '.join(sorted(CONDITIONS))})")
        elif op in ("exists", "changed") and not isinstance(arg, bool):
            problems.append(f"{where}.{op}: must be true or false")
        elif op == "changed" and not path.startswith("data."):
            problems.append(f"{where}.changed: applies to data. paths (whether the column is in old)")
        elif op == "in" and not isinstance(arg, list):
            problems.append(f"{where}.in: must be a list")
        elif op in ("gt", "lt") and not is_number(arg):
            problems.append(f"{where}.{op}: must be a number (quoted, to keep more than 15 digits)")
        elif op in ("equals", "not_equals") and isinstance(arg, dict | list):
            problems.append(f"{where}.{op}: must be a single value (use in: for a list)")
        elif op == "matches":
            try:
                compile_pattern(str(arg))
            except ValueError as exc:
                problems.append(
                    f"{where}.matches: bad regular expression: {exc} (RE2 syntax: backreferences "
                    "and look-around are not supported)"
                )
    return condition


def validate_ticket(ticket: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    problems += [
        f"ticket.{key}: unknown key (use {', '.join(sorted(TICKET_KEYS))})"
        for key in ticket
        if key not in TICKET_KEYS
    ]
    out: dict[str, Any] = {}
    for key in ("project", "issue_type", "priority"):
        value = ticket.get(key, "Task" if key == "issue_type" else None)
        if value is None:
            if key == "project":
                problems.append("ticket.project: required")
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(f"ticket.{key}: must be a non-empty string")
        else:
            out[key] = value.strip()
    for key in ("summary", "description"):
        if key not in ticket:
            if key == "summary":
                problems.append("ticket.summary: required")
            continue
        text = ticket[key]
        if not isinstance(text, str):
            problems.append(f"ticket.{key}: must be a string (a Django template)")
            continue
        try:
            compile_template(text)
        except TemplateSyntaxError as exc:
            problems.append(f"ticket.{key}: template does not compile: {exc}")
        out[key] = text
    labels = string_list(ticket.get("labels", []), "ticket.labels", problems)
    # The labels are the rule's own, the same on every ticket: what the receiver would refuse of
    # them is refused now, not on every event.
    problems += [f"ticket.{problem}" for problem in label_problems(labels)]
    if labels:
        out["labels"] = labels
    return out


def is_number(value: Any) -> bool:
    """A number as YAML gives it, or one written as a string: YAML reads 12345678901234567.12 as a
    float (17 digits kept), so a rule comparing past that quotes its number."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        return isinstance(value, str) and Decimal(value).is_finite()
    except InvalidOperation:
        return False


def string_list(value: Any, where: str, problems: list[str]) -> list[str]:
    """A string or a list of strings, as a list."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.append(f"{where}: must be a string or a list of strings")
        return []
    return value
