"""The transform: one batch from ``cdc:<env>`` in, events recorded, rules matched, tickets
rendered and requested. Everything a batch writes is written in one transaction, in bulk."""

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction

from cdc_publisher.contract import PAYLOAD_VERSION
from cdc_publisher.events import ROW_TYPES, InvalidEvent, event_identity, parse_event
from jira_bridge.ledger import GroupedMatch, TicketDraft, group_drafts, request_tickets
from notifications.models import AuditEntry, ErrorLog, Event, Source
from notifications.records import (
    audit_entry,
    bump_daily_stats,
    record_audits,
    record_error,
    record_errors,
    record_events,
)
from rules.matching import load_rule_index
from rules.render import TemplateFailure
from rules.silences import Silencer


@dataclass
class BatchResult:
    events: int = 0
    rejected: int = 0
    matched: int = 0
    duplicates: int = 0  # exact redeliveries, dropped
    new_requests: list[int] = field(default_factory=list)  # to create
    joined_requests: list[int] = field(default_factory=list)  # existing tickets more events joined


def process_cdc_batch(batch: Any) -> BatchResult:
    """Record and transform one publisher batch (see cdc_publisher.contract.Batch).

    A payload that is not a batch at all is recorded as bad input, whole, and nothing else
    happens; a bad line inside a batch is recorded with its line number and the rest go on.
    """
    problem = batch_problem(batch)
    if problem:
        record_error(
            ErrorLog.Kind.BAD_INPUT,
            f"not a publisher batch: {problem}",
            source=Source.CDC,
            environment=batch.get("env", "") if isinstance(batch, dict) else "",
            where="cdc batch",
            raw=orjson.dumps(batch, default=repr).decode(),
        )
        return BatchResult()

    return transform_batch(batch)


def transform_batch(batch: dict[str, Any]) -> BatchResult:
    env, origin = batch["env"], batch.get("origin", "")
    errors = [bad_line(env, origin, lineno, raw, reason) for lineno, raw, reason in batch["rejects"]]
    counts: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    counts[(env, Source.CDC, "")]["bad_input"] += len(batch["rejects"])

    parsed = []
    for lineno, raw in batch["events"]:
        try:
            event = parse_event(raw)
        except InvalidEvent as exc:
            errors.append(bad_line(env, origin, lineno, raw, str(exc)))
            counts[(env, Source.CDC, "")]["bad_input"] += 1
            continue
        if "\\u0000" in raw:
            event = without_nul(event)
        parsed.append((lineno, raw, event, event_identity(env, event, raw)))

    return transform_events(env, Source.CDC, origin, parsed, errors, counts, rejected=len(batch["rejects"]))


@transaction.atomic  # one transaction: the look for redeliveries and every write of the batch
def transform_events(
    env: str,
    source: str,
    origin: str,
    parsed: list[tuple[int, str, dict[str, Any], str]],
    errors: list[ErrorLog],
    counts: dict[tuple[str, str, str], Counter],
    rejected: int = 0,
) -> BatchResult:
    """Events of one source, parsed and identified as (position in the input, raw text, event,
    event id): redeliveries dropped, rules matched, silences applied, tickets requested, all
    recorded. Shared by database changes and object-store changes."""
    index, broken = load_rule_index(source)
    errors += [
        ErrorLog(
            kind=ErrorLog.Kind.RULE_FILE,
            source=Source.RULES,
            environment=env,
            where=f"rule {rule.name}",
            message=f"rule left out, it no longer validates: {exc}",
        )
        for rule, exc in broken
    ]
    events: list[Event] = []
    silencer = Silencer.load()
    drafts: dict[str, TicketDraft] = {}
    grouped: list[GroupedMatch] = []

    # Exact redeliveries (a Maxwell restart replaying minutes, a batch delivered twice) are
    # dropped here, counted, and never reach the rules again.
    seen = set(Event.objects.filter(event_id__in=[p[3] for p in parsed]).values_list("event_id", flat=True))
    duplicates = 0
    for lineno, raw, event, event_id in parsed:
        if event_id in seen:
            duplicates += 1
            continue
        seen.add(event_id)
        matchable = source != Source.CDC or event["type"] in ROW_TYPES
        rules = index.match(env, event) if matchable else []
        record = Event(
            environment=env,
            source=source,
            event_id=event_id,
            database=event["database"],
            table=event.get("table") or "",
            type=event["type"],
            occurred_at=occurred_at(event),
            origin=f"{origin} line {lineno}"[:255],
            payload=event,
            outcome=outcome(event, rules),
        )
        events.append(record)
        counts[(env, source, "")]["events"] += 1
        held = 0
        for rule in rules:
            counts[(env, source, rule.name)]["matched"] += 1
            if silencer.find(rule.id, env, record):
                counts[(env, source, rule.name)]["silenced"] += 1
                held += 1
                continue
            try:
                fields = rule.render(env, event, event_id)
            except TemplateFailure as exc:
                counts[(env, source, rule.name)]["failures"] += 1
                errors.append(
                    ErrorLog(
                        kind=ErrorLog.Kind.TEMPLATE,
                        source=Source.RULES,
                        environment=env,
                        where=f"rule {rule.name}, {origin} line {lineno}"[:255],
                        message=f"ticket template failed: {exc}",
                        raw=raw,
                    )
                )
                continue
            draft = TicketDraft("", rule.id, rule.name, env, source, fields, events=[record])
            group = rule.group_key(env, event)
            if group:
                draft.group_key = group
                grouped.append(
                    GroupedMatch(draft, record.occurred_at or record.received_at, rule.group_window)
                )
            else:
                draft.key = rule.event_key(event_id)
                drafts.setdefault(draft.key, draft)
        if rules and held == len(rules):
            record.outcome = Event.Outcome.SILENCED

    counts[(env, source, "")]["duplicates"] += duplicates
    record_errors(errors)
    record_events(events)
    silencer.save_counts()
    requested = request_tickets([*drafts.values(), *group_drafts(grouped)])
    record_audits(
        [
            audit_entry(
                AuditEntry.EVENTS_RECEIVED,
                f"{len(events)} events, {duplicates} redelivered (dropped), "
                f"{rejected} rejected lines from {origin}",
                environment=env,
                extra={
                    "events": len(events),
                    "duplicates": duplicates,
                    "rejected": rejected,
                    "tickets": len(requested.created),
                },
            )
        ]
    )
    bump_daily_stats(counts)
    return BatchResult(
        events=len(events),
        rejected=sum(1 for e in errors if e.kind == ErrorLog.Kind.BAD_INPUT),
        matched=sum(1 for e in events if e.outcome == Event.Outcome.MATCHED),
        duplicates=duplicates,
        new_requests=requested.created,
        joined_requests=requested.joined,
    )


def batch_problem(batch: Any) -> str:
    """Why a payload is not a batch this hub can process, or '' if it is one."""
    if not isinstance(batch, dict):
        return f"a {type(batch).__name__}, not a mapping"
    if batch.get("v") != PAYLOAD_VERSION:
        return f"payload version {batch.get('v')!r}, this hub reads {PAYLOAD_VERSION}"
    if batch.get("env") not in settings.HUB_ENVIRONMENTS:
        known = ", ".join(settings.HUB_ENVIRONMENTS)
        return f"unknown environment {batch.get('env')!r} (HUB_ENVIRONMENTS: {known})"
    for key, shape in (("events", (int, str)), ("rejects", (int, str, str))):
        items = batch.get(key)
        if not isinstance(items, list) or not all(
            isinstance(i, list | tuple)
            and len(i) == len(shape)
            and all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(i, shape, strict=True))
            for i in items
        ):
            names = "[line, text]" if key == "events" else "[line, text, reason]"
            return f"{key!r} is not a list of {names} entries"
    return ""


def bad_line(env: str, origin: str, lineno: int, raw: str, reason: str) -> ErrorLog:
    return ErrorLog(
        kind=ErrorLog.Kind.BAD_INPUT,
        source=Source.CDC,
        environment=env,
        where=f"{origin} line {lineno}"[:255],
        message=f"line {lineno} is not a Maxwell event: {reason}",
        raw=str(raw).replace("\x00", "\\x00"),
        context={"line": lineno, "origin": origin},
    )


def without_nul(value: Any) -> Any:
    """PostgreSQL cannot store U+0000 in text or jsonb: it becomes U+FFFD (the replacement
    character) everywhere in the event, for the record and the ticket alike."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def outcome(event: dict[str, Any], rules: list) -> str:
    if event["type"] not in ROW_TYPES:
        return Event.Outcome.RECORDED
    return Event.Outcome.MATCHED if rules else Event.Outcome.UNMATCHED


def occurred_at(event: dict[str, Any]) -> dt.datetime | None:
    """Maxwell's ``ts``: seconds for row events, milliseconds for DDL."""
    ts = event.get("ts")
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return None
    if ts > 10**11:
        ts = ts / 1000
    try:
        return dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
