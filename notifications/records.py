"""Writers for the hub's records. Every task and command records through these, so each kind of
record is written one way, and in bulk where a batch produces many."""

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import JSONField
from django.utils import timezone

from notifications import hot
from notifications.live import publish_on_commit
from notifications.models import AuditEntry, DailyStat, ErrorLog, Event, JobFailure, Notification

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
                        orjson.dumps(value).decode() if is_json else value
                        for value, is_json in zip(
                            (getattr(event, f.attname) for f in fields), as_json, strict=True
                        )
                    ]
                )
    return events


def record_errors(errors: Iterable[ErrorLog]) -> list[ErrorLog]:
    errors = ErrorLog.objects.bulk_create(list(errors), batch_size=1000)
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
    context: dict[str, Any] | None = None,
) -> ErrorLog:
    error = ErrorLog.objects.create(
        kind=kind,
        message=message,
        source=source,
        environment=environment,
        where=where[:255],
        raw=raw,
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
    subject: str,
    payload: dict[str, Any],
    attempts: list[dict[str, Any]],
    last_error: str,
    task_id: str = "",
    queue: str = "",
    environment: str = "",
) -> JobFailure:
    return JobFailure.objects.create(
        task_name=task_name,
        task_id=task_id or "",
        queue=queue,
        environment=environment,
        subject=subject,
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
