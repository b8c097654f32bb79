"""The transform: one batch of events in, events recorded, rules matched, tickets rendered and
requested. Everything a batch writes is written in one transaction, in bulk; pipeline.batches runs
it so that no line can sink the others."""

import datetime as dt
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction

from cdc_publisher.contract import PAYLOAD_VERSION, checkpoint_problem
from cdc_publisher.events import ROW_TYPES, InvalidEvent, event_identity, kept_text, parse_event
from cdc_publisher.exactjson import loads as exact_loads
from jira_bridge.ledger import GroupedMatch, TicketDraft, group_drafts, request_tickets
from notifications.fields import exact_json
from notifications.models import AuditEntry, ErrorLog, Event, Source
from notifications.records import (
    audit_entry,
    bump_daily_stats,
    record_audits,
    record_errors,
    record_events,
    storable,
)
from rules.matching import load_rule_index
from rules.redaction import Redactor
from rules.render import RenderBoundExceeded, TemplateFailure
from rules.silences import Silencer

Counts = dict[tuple[str, str, str], Counter]


class Parsed(NamedTuple):
    """An accepted event: where it was in its batch, the event (numbers exact, not yet redacted:
    rules match the values as they are), and its deterministic id."""

    position: int
    event: dict[str, Any]
    event_id: str


@dataclass
class Lines:
    """A batch (or part of one) ready to transform: its accepted events, and the error records
    of the lines that were not (written with the events, in the same transaction)."""

    env: str
    source: str
    origin: str
    parsed: list[Parsed]
    errors: list[ErrorLog] = field(default_factory=list)
    publisher: dict[str, Any] | None = None  # a live cdc batch's: see publisher_status

    def split(self) -> tuple["Lines", "Lines"]:
        """Two halves of the events; the error records go with the first."""
        half = len(self.parsed) // 2
        first = Lines(self.env, self.source, self.origin, self.parsed[:half], self.errors)
        return first, Lines(self.env, self.source, self.origin, self.parsed[half:])


@dataclass
class BatchResult:
    events: int = 0
    rejected: int = 0
    matched: int = 0
    duplicates: int = 0  # exact redeliveries, dropped
    new_requests: list[int] = field(default_factory=list)  # to create
    joined_requests: list[int] = field(default_factory=list)  # existing tickets more events joined

    def add(self, other: "BatchResult") -> "BatchResult":
        return BatchResult(
            self.events + other.events,
            self.rejected + other.rejected,
            self.matched + other.matched,
            self.duplicates + other.duplicates,
            self.new_requests + other.new_requests,
            sorted({*self.joined_requests, *other.joined_requests}),
        )


class BatchTimeLimit(Exception):
    """A batch ran past its soft time limit (HUB_BATCH_SECONDS); checked between events, where
    stopping is safe (a signal could land inside a database call)."""


class NotABatch(ValueError):
    """A payload that is not a batch at all (recorded whole as bad input)."""


def cdc_lines(batch: Any) -> Lines:
    """A publisher batch (see cdc_publisher.contract.Batch) parsed again with the publisher's own
    checks (batches also come from older publishers, or by hand). A bad line becomes an error
    record with its line number and reason, whatever is wrong with it; a payload that is not a
    batch raises NotABatch."""
    problem = batch_problem(batch)
    if problem:
        raise NotABatch(problem)
    env, origin = batch["env"], batch.get("origin", "")
    errors = [bad_line(env, origin, lineno, raw, reason) for lineno, raw, reason in batch["rejects"]]
    parsed = []
    for lineno, raw in batch["events"]:
        try:
            event = parse_event(raw, settings.HUB_MAX_LINE_BYTES)
            if "\\u0000" in raw:
                event = without_nul(event)
            event_id = event_identity(env, event, raw)
        except InvalidEvent as exc:
            errors.append(bad_line(env, origin, lineno, raw, str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - whatever else a line does, it is that line's error
            reason = f"could not be read: {type(exc).__name__}: {exc}"
            errors.append(bad_line(env, origin, lineno, raw, reason))
            continue
        parsed.append(Parsed(lineno, event, event_id))
    publisher, problem = publisher_status(batch, parsed)
    if problem:
        errors.append(
            ErrorLog(
                kind=ErrorLog.Kind.BAD_INPUT,
                source=Source.CDC,
                environment=env,
                where=f"{origin} checkpoint"[:255],
                message=f"the batch's checkpoint is not one ({problem}): its events are processed, "
                "the publisher's last position is not updated",
                raw=kept_text(repr(batch["checkpoint"])),
            )
        )
    return Lines(env, Source.CDC, origin, parsed, errors, publisher)


def publisher_status(batch: dict[str, Any], parsed: list[Parsed]) -> tuple[dict[str, Any], str]:
    """What a batch tells of its publisher (notifications.hot.PUBLISHER_FIELDS), and why its
    checkpoint is not one, if it is not. The last position is the binlog source's checkpoint,
    else that of the last event with one (Maxwell's ``output_binlog_position``)."""
    status: dict[str, Any] = {
        "source": str(batch.get("source") or ""),
        "origin": str(batch.get("origin", "")),
    }
    if "checkpoint" in batch:
        checkpoint = batch["checkpoint"]
        problem = checkpoint_problem(checkpoint)
        if problem:
            return status, problem
        status["position"] = f"{checkpoint['log_file']}:{checkpoint['log_pos']}"
        for name in ("server_id", "server_uuid", "log_file_created"):
            status[name] = checkpoint[name]
        return status, ""
    for p in reversed(parsed):
        if isinstance(p.event.get("position"), str):
            status["position"] = p.event["position"]
            if isinstance(p.event.get("server_id"), int):
                status["server_id"] = p.event["server_id"]
            break
    return status, ""


@transaction.atomic  # one transaction: the look for redeliveries and every write of the batch
def transform_events(lines: Lines, deadline: float | None = None) -> BatchResult:
    """Events of one source: redeliveries dropped, rules matched, silences applied, tickets
    requested, all recorded. Shared by database changes and object-store changes. What is
    stored and rendered is redacted (see rules.redaction); rules match the values as they came.
    Raises BatchTimeLimit once ``time.monotonic()`` passes ``deadline``."""
    env, source, origin = lines.env, lines.source, lines.origin
    index, broken = load_rule_index(source)
    redactor = index.redactor
    counts: Counts = defaultdict(Counter)
    errors = [redact_error(error, redactor) for error in lines.errors]
    counts[(env, source, "")]["bad_input"] += sum(1 for e in errors if e.kind == ErrorLog.Kind.BAD_INPUT)
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
    over_bound: dict[int, str] = {}  # rules whose template passed a bound in this batch: skipped
    silencer = Silencer.load()
    drafts: dict[str, TicketDraft] = {}
    grouped: list[GroupedMatch] = []

    # Exact redeliveries (a Maxwell restart replaying minutes, a batch delivered twice) are
    # dropped here, counted, and never reach the rules again.
    ids = [p.event_id for p in lines.parsed]
    seen = set(Event.objects.filter(event_id__in=ids).values_list("event_id", flat=True))
    duplicates = 0
    for lineno, event, event_id in lines.parsed:
        if deadline is not None and time.monotonic() > deadline:
            raise BatchTimeLimit(f"the batch ran past its time limit ({settings.HUB_BATCH_SECONDS:g} s)")
        if event_id in seen:
            duplicates += 1
            continue
        seen.add(event_id)
        matchable = source != Source.CDC or event["type"] in ROW_TYPES
        rules = index.match(env, event) if matchable else []
        stored = redactor.event(event)
        record = Event(
            environment=env,
            source=source,
            event_id=event_id,
            database=event["database"],
            table=event.get("table") or "",
            type=event["type"],
            occurred_at=occurred_at(event),
            origin=f"{origin} line {lineno}"[:255],
            payload=stored,
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

            def render(rule=rule, lineno=lineno, event=event, event_id=event_id, stored=stored):
                """The rule's ticket for this event, or None: its failure recorded."""
                try:
                    if rule.id in over_bound:
                        raise TemplateFailure(f"not rendered: {over_bound[rule.id]} earlier in this batch")
                    # Its own copy: a template can call methods of what it sees (dict.clear, say).
                    return rule.render(env, redactor.event(event), event_id)
                except TemplateFailure as exc:
                    if isinstance(exc, RenderBoundExceeded):
                        over_bound[rule.id] = f"the template passed a bound ({exc}) at line {lineno}"
                    counts[(env, source, rule.name)]["failures"] += 1
                    errors.append(
                        ErrorLog(
                            kind=ErrorLog.Kind.TEMPLATE,
                            source=Source.RULES,
                            environment=env,
                            where=f"rule {rule.name}, {origin} line {lineno}"[:255],
                            message=f"ticket template failed: {exc}",
                            raw=exact_json(stored),
                        )
                    )
                    return None

            group = rule.group_key(env, event)
            if group:
                # Rendered only if it opens its group's ticket: the events that join one never are.
                draft = TicketDraft(
                    "", rule.id, rule.name, env, source, None, events=[record], group_key=group
                )
                at = record.occurred_at or record.received_at
                grouped.append(GroupedMatch(draft, at, rule.group_window, render=render))
                continue
            ticket = render()
            if ticket is not None:
                draft = TicketDraft(
                    rule.event_key(event_id), rule.id, rule.name, env, source, ticket, [record]
                )
                drafts.setdefault(draft.key, draft)
        if rules and held == len(rules):
            record.outcome = Event.Outcome.SILENCED

    counts[(env, source, "")]["duplicates"] += duplicates
    opened = group_drafts(grouped)  # first: it renders the events that open a ticket, errors and all
    record_errors(errors)
    record_events(events)
    silencer.save_counts()
    requested = request_tickets([*drafts.values(), *opened])
    rejected = sum(1 for e in errors if e.kind == ErrorLog.Kind.BAD_INPUT)
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
        rejected=rejected,
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


def bad_line(env: str, origin: str, lineno: int, raw: str, reason: str, source: str = Source.CDC) -> ErrorLog:
    """An error record for a line that is not an event: its reason, and its text as far as it is
    kept (see kept_text; redacted later, see redact_error)."""
    what = "a Maxwell event" if source == Source.CDC else "an event the hub can process"
    return ErrorLog(  # text PostgreSQL cannot hold is escaped by record_errors
        kind=ErrorLog.Kind.BAD_INPUT,
        source=source,
        environment=env,
        where=f"{origin} line {lineno}",
        message=f"line {lineno} is not {what}: {reason}",
        raw=kept_text(str(raw)),
        context={"line": lineno, "origin": storable(origin)},  # jsonb: escaped here
    )


def redact_error(error: ErrorLog, redactor: Redactor) -> ErrorLog:
    """An error record's raw input with its secrets redacted where it parses as JSON; where it
    does not, it is kept as it came and marked so (only operators see it)."""
    if not error.raw or not error.raw_redacted:
        return error
    try:
        error.raw = exact_json(redactor.anything(exact_loads(error.raw)))
    except Exception:  # noqa: BLE001 - not JSON, too deep to write back, ...: kept as it came
        error.raw_redacted = False
    return error


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
    if not isinstance(ts, int | float | Decimal) or isinstance(ts, bool):
        return None
    try:
        ts = float(ts)
        if ts > 10**11:
            ts = ts / 1000
        return dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
