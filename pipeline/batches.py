"""Running a batch of events so that no line can sink the others, and keeping what cannot be run
for a replay.

A batch is transformed in one transaction (pipeline.transform). If that fails for a reason nobody
foresaw — the publisher's checks and the hub's own have passed — the batch is split in two and
each half tried on its own, down to single events: an event that still fails becomes a bad-input
record with its line number and the reason, and every other one is processed as usual.

Some failures are the hub's, not the lines': the database refusing the statement itself (a table
or column missing after a half-applied deploy: ProgrammingError and its kin), every event of a
batch of several failing, or the batch running past HUB_BATCH_SECONDS. Then what did not commit is
kept, whole, as a StoredBatch (redacted) with a job failure, to be replayed once the fault is
fixed; a replay that meets such a fault again leaves the failure waiting, with one more attempt.
"""

import time
from collections import Counter
from typing import Any

from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    transaction,
)
from psycopg.errors import UniqueViolation

from notifications.fields import exact_json, exact_loads
from notifications.models import ErrorLog, StoredBatch
from notifications.records import bump_daily_stats, record_errors
from pipeline.transform import (
    BatchResult,
    BatchTimeLimit,
    Lines,
    Parsed,
    bad_line,
    cdc_lines,
    redact_error,
    transform_events,
)
from rules.matching import load_rule_index

DATABASE_DOWN = (OperationalError, InterfaceError)
ERROR_FIELDS = ("kind", "source", "environment", "where", "message", "raw", "raw_redacted", "context")


class BatchFailed(Exception):
    """A fault of the hub's stopped a batch; ``committed`` is what of it was processed before."""

    def __init__(self, message: str, committed: BatchResult) -> None:
        super().__init__(message)
        self.committed = committed


class HubFault(Exception):
    """The database refused the statement, not the values: no line is to blame."""


def is_hub_fault(exc: Exception) -> bool:
    return isinstance(exc, DatabaseError) and not isinstance(exc, DataError | IntegrityError)


def process_lines(lines: Lines, *, seconds: float = 0) -> BatchResult:
    """Transform ``lines``, isolating the events that cannot be (see the module's docstring).
    Raises BatchFailed for a fault of the hub's (past ``seconds`` too; 0: no limit), and the
    database's errors when it is down (the task retries)."""
    deadline = time.monotonic() + seconds if seconds else None
    done: list[BatchResult] = []
    failed: list[tuple[Lines, Exception]] = []
    try:
        run_isolating(lines, failed, deadline, done)
    except (HubFault, BatchTimeLimit) as exc:
        cause = exc.__cause__ or exc
        raise BatchFailed(first_line(cause), total(done)) from cause
    if failed and len(lines.parsed) > 1 and sum(len(part.parsed) for part, _ in failed) == len(lines.parsed):
        raise BatchFailed(f"every event failed: {first_line(failed[0][1])}", total(done)) from failed[0][1]
    return total(done).add(record_failed_lines(lines, failed)) if failed else total(done)


def run_isolating(
    lines: Lines, failed: list[tuple[Lines, Exception]], deadline: float | None, done: list[BatchResult]
) -> None:
    """Transform ``lines``, or its halves, and so on down to single events; what committed is
    added to ``done``, the events that failed alone to ``failed``."""
    try:
        try:
            done.append(transform_events(lines, deadline))
        except IntegrityError as exc:
            if not isinstance(exc.__cause__, UniqueViolation):
                raise
            # Another worker stored some of these events between our look and our insert (the
            # same batch delivered twice at once): a second pass finds them and drops them.
            done.append(transform_events(lines, deadline))
    except (*DATABASE_DOWN, BatchTimeLimit):
        raise
    except Exception as exc:  # noqa: BLE001 - unforeseen: find the events it comes from
        if is_hub_fault(exc):
            raise HubFault() from exc
        if len(lines.parsed) <= 1:
            failed.append((lines, exc))
            return
        for half in lines.split():
            run_isolating(half, failed, deadline, done)


def total(results: list[BatchResult]) -> BatchResult:
    result = BatchResult()
    for part in results:
        result = result.add(part)
    return result


@transaction.atomic
def record_failed_lines(lines: Lines, failed: list[tuple[Lines, Exception]]) -> BatchResult:
    """Each event that could not be processed as a bad-input record (line number, reason, the
    event redacted), with the error records that were to be written beside it."""
    redactor = load_rule_index(lines.source)[0].redactor
    errors = []
    for part, exc in failed:
        errors += [redact_error(error, redactor) for error in part.errors]
        reason = f"could not be stored or processed: {first_line(exc)}"
        for p in part.parsed:
            try:
                raw, redacted = exact_json(redactor.event(p.event)), True
            except Exception:  # noqa: BLE001 - what cannot be written as JSON is kept as text
                raw, redacted = repr(redactor.event(p.event))[:65536], True
            error = bad_line(part.env, part.origin, p.position, raw, reason, part.source)
            error.raw_redacted = redacted
            errors.append(error)
    for error in errors:
        error.pk = None  # kept from a rolled-back attempt
    record_errors(errors)
    bad = sum(1 for e in errors if e.kind == ErrorLog.Kind.BAD_INPUT)
    bump_daily_stats({(lines.env, lines.source, ""): Counter(bad_input=bad)})
    return BatchResult(rejected=bad)


def first_line(exc: Exception) -> str:
    """An error in one line, without what PostgreSQL adds after it (the row it was writing)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:500]}"


def store_batch(lines: Lines) -> StoredBatch:
    """Keep a batch for a replay: each event redacted, with the id it was given on arrival (so a
    replay is deduplicated against whatever of it did get stored), and its error records. As JSON
    text, which stores whatever the events hold (jsonb refuses some numbers), numbers exact."""
    redactor = load_rule_index(lines.source)[0].redactor
    return StoredBatch.objects.create(
        source=lines.source,
        environment=lines.env,
        origin=lines.origin[:255],
        events=exact_json([[p.position, p.event_id, redactor.event(p.event)] for p in lines.parsed]),
        rejects=exact_json(
            [{f: getattr(redact_error(e, redactor), f) for f in ERROR_FIELDS} for e in lines.errors]
        ),
    )


def stored_lines(batch: StoredBatch) -> Lines:
    """A stored batch as lines to transform again."""
    parsed = [Parsed(position, event, event_id) for position, event_id, event in exact_loads(batch.events)]
    errors = [ErrorLog(**fields) for fields in exact_loads(batch.rejects)]
    return Lines(batch.environment, batch.source, batch.origin, parsed, errors)


def replay_batch(batch: StoredBatch) -> BatchResult:
    """Run a stored batch through today's rules again: events already recorded are dropped as
    redeliveries and the ledger never asks for a ticket twice; an event that fails alone is
    isolated. Raises BatchFailed if the hub's fault is still there."""
    return process_lines(stored_lines(batch))


def describe(result: BatchResult) -> dict[str, Any]:
    return {
        "events": result.events,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "tickets": len(result.new_requests),
    }


def process_cdc_batch(batch: Any) -> BatchResult:
    """A publisher batch, parsed and processed (as the batch task does, without its records of a
    payload that is not a batch, or of a batch that failed whole)."""
    return process_lines(cdc_lines(batch))
