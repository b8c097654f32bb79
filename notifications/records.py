"""Writers for the hub's records. Every task and command records through these, so each kind of
record is written one way, and in bulk where a batch produces many."""

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, JSONField, Q, QuerySet
from django.utils import timezone

from notifications import hot
from notifications.fields import exact_json
from notifications.live import publish_on_commit
from notifications.models import AuditEntry, DailyStat, ErrorLog, Event, JobFailure, Notification, StoredBatch

STAT_FIELDS = ("events", "duplicates", "matched", "silenced", "tickets", "failures", "bad_input")
StatKey = tuple[str, str, str]  # environment, source, rule ('' when no rule)


def record_events(events: Iterable[Event]) -> list[Event]:
    """Store received events with COPY (several times faster than INSERT for a batch of
    hundreds); their primary keys are taken from the table's sequence first, and set."""
    events = list(events)
    if not events:
        return events
    table = Event._meta.db_table
    fields = Event._meta.concrete_fields
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(events)],
        )
        for event, (pk,) in zip(events, cursor.fetchall(), strict=True):
            event.pk = pk
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        as_json = [isinstance(f, JSONField) for f in fields]
        # The raw psycopg cursor: wrap_database_errors turns its errors into Django's (a unique
        # violation into IntegrityError, a lost connection into OperationalError), as callers expect.
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for event in events:
                copy.write_row(
                    [
                        exact_json(value) if is_json else value
                        for value, is_json in zip(
                            (getattr(event, f.attname) for f in fields), as_json, strict=True
                        )
                    ]
                )
    return events


def storable(text: str) -> str:
    """Text PostgreSQL can hold: NUL and lone UTF-16 surrogates (which a line from the broker can
    carry) written as escapes."""
    text = text.replace("\x00", "\\x00")
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def record_errors(errors: Iterable[ErrorLog]) -> list[ErrorLog]:
    errors = list(errors)
    for error in errors:
        error.message, error.raw = storable(error.message), storable(error.raw)
        error.where = storable(error.where)[:255]  # escapes can lengthen it past its column
    errors = ErrorLog.objects.bulk_create(errors, batch_size=1000)
    announce_errors(errors)
    return errors


def record_error(
    kind: str,
    message: str,
    *,
    source: str,
    environment: str = "",
    where: str = "",
    raw: str = "",
    raw_redacted: bool = True,
    context: dict[str, Any] | None = None,
) -> ErrorLog:
    """One error record. ``raw_redacted=False`` says the raw input could not be redacted (it
    did not parse): only operators see it. What PostgreSQL text cannot hold is escaped."""
    error = ErrorLog.objects.create(
        kind=kind,
        message=storable(message),
        source=source,
        environment=environment,
        where=storable(where)[:255],
        raw=storable(raw),
        raw_redacted=raw_redacted,
        context=context or {},
    )
    announce_errors([error])
    return error


def announce_errors(errors: list[ErrorLog], shown: int = 20) -> None:
    """Show new errors on the live page once they are committed (the newest ``shown`` of a batch)."""
    if errors:
        publish_on_commit("errors", [error_summary(error) for error in errors[-shown:]])


def error_summary(error: ErrorLog) -> dict[str, Any]:
    return {
        "id": error.pk,
        "created_at": error.created_at.isoformat(),
        "kind": error.kind,
        "source": error.source,
        "environment": error.environment,
        "where": error.where,
        "message": error.message[:300],
    }


def record_audit(
    action: str,
    summary: str,
    *,
    actor: str = "system",
    environment: str = "",
    obj: Any = None,
    extra: dict[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(**audit_fields(action, summary, actor, environment, obj, extra))


def record_audits(entries: Iterable[AuditEntry]) -> list[AuditEntry]:
    return AuditEntry.objects.bulk_create(list(entries), batch_size=1000)


def audit_entry(
    action: str,
    summary: str,
    *,
    actor: str = "system",
    environment: str = "",
    obj: Any = None,
    extra: dict[str, Any] | None = None,
) -> AuditEntry:
    """An unsaved entry, for record_audits."""
    return AuditEntry(**audit_fields(action, summary, actor, environment, obj, extra))


def audit_fields(action, summary, actor, environment, obj, extra) -> dict[str, Any]:
    return {
        "action": action,
        "summary": summary,
        "actor": actor,
        "environment": environment,
        "object_type": obj._meta.label_lower if obj is not None else "",
        "object_id": str(obj.pk) if obj is not None else "",
        "extra": extra or {},
    }


def record_job_failure(
    *,
    task_name: str,
    payload: dict[str, Any],
    attempts: list[dict[str, Any]],
    last_error: str,
    ticket_request: Any = None,
    batch: StoredBatch | None = None,
    task_id: str = "",
    queue: str = "",
    environment: str = "",
) -> JobFailure:
    """A job that failed for good, about a ticket request (a dead letter) or a stored batch."""
    return JobFailure.objects.create(
        task_name=task_name,
        task_id=task_id or "",
        queue=queue,
        environment=environment,
        ticket_request=ticket_request,
        batch=batch,
        payload=payload,
        attempts=attempts,
        last_error=last_error,
    )


def notify(
    title: str, body: str = "", *, level: str = "info", environment: str = "", link: str = ""
) -> Notification:
    return Notification.objects.create(
        title=title[:255], body=body, level=level, environment=environment, link=link
    )


def bump_daily_stats(counts: Mapping[StatKey, Mapping[str, int]], day: dt.date | None = None) -> None:
    """Add ``counts`` to today's counters in one upsert, safe against concurrent workers."""
    if not counts:
        return
    today = day is None
    day = day or timezone.now().date()
    rows = []
    for (environment, source, rule), values in counts.items():
        unknown = set(values) - set(STAT_FIELDS)
        if unknown:
            raise ValueError(f"unknown statistics {sorted(unknown)}")
        rows.append([day, environment, source, rule, *(values.get(f, 0) for f in STAT_FIELDS)])
    table = DailyStat._meta.db_table
    columns = ", ".join(("day", "environment", "source", "rule", *STAT_FIELDS))
    placeholders = ", ".join(["%s"] * (4 + len(STAT_FIELDS)))
    increments = ", ".join(f"{f} = {table}.{f} + EXCLUDED.{f}" for f in STAT_FIELDS)
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT (day, environment, source, rule) DO UPDATE SET {increments}"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, sorted(rows))  # sorted: concurrent upserts lock rows in one order
    if today:
        counts = {key: dict(values) for key, values in counts.items()}
        transaction.on_commit(lambda: count_hot(counts))


def count_hot(counts: Mapping[StatKey, Mapping[str, int]]) -> None:
    """The same counts per minute and hour in Redis, for the live page: best effort, since the
    durable counters above are already committed."""
    try:
        hot.count(counts)
    except Exception:  # noqa: BLE001 - Redis down: the live page's rates lag, nothing is lost
        pass


def dead_letters() -> QuerySet[JobFailure]:
    """Every failure waiting for a replay: ticket requests and batches."""
    return JobFailure.objects.filter(state=JobFailure.State.FAILED)


def dead_letter_counts() -> dict[str, int]:
    """How many wait for a replay, by kind: ticket requests and stored batches (one query)."""
    return dead_letters().aggregate(
        ticket_request=Count("id", filter=Q(ticket_request__isnull=False)),
        batch=Count("id", filter=Q(batch__isnull=False)),
    )
