"""Cold storage: the hub's records in PostgreSQL are kept for a configurable number of days, then
pruned in batches so that no table grows without bound; daily statistics outlive them and get
each day's ticket latency. Recent data lives in Redis (notifications.hot). Here at the top floor
because it knows every app's records (the ledger's, the outbox's)."""

import datetime as dt
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import CharField, Exists, Model, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django_celery_results.models import GroupResult, TaskResult

from jira_bridge.models import DeliveryAttempt, TicketRequest
from notifications.models import AuditEntry, DailyStat, ErrorLog, Event, JobFailure, Notification, StoredBatch
from notifications.records import STAT_FIELDS, bump_daily_stats, record_audit
from receivers.outbox.models import OUTBOX_PREFIX, OutboxTicket

DAYS_SETTINGS = (
    "HUB_RETENTION_DAYS",
    "HUB_RESULT_RETENTION_DAYS",
    "HUB_LEDGER_RETENTION_DAYS",
    "HUB_STATS_RETENTION_DAYS",
)


@dataclass(frozen=True)
class Retention:
    """Rows of ``model`` whose ``field`` is older than the setting ``days`` (and that match
    ``only``) are deleted. ``links`` are the tables (model, column) whose rows point at the model
    and go with it (many-to-many links, a request's attempts): a raw DELETE does not remove them
    as Model.delete() would, so they go first."""

    model: type[Model]
    field: str
    days: str
    only: Q = field(default_factory=Q)
    links: tuple[tuple[type[Model], str], ...] = ()
    carry: Callable[[QuerySet], None] | None = None  # run on the prunable rows first, atomically
    # Foreign keys (model, column) whose rows keep a row from being pruned (``only`` says so).
    kept_while: tuple[tuple[type[Model], str], ...] = ()

    @property
    def label(self) -> str:
        return self.model._meta.label

    def prunable(self, now: dt.datetime) -> QuerySet:
        cutoff = now - dt.timedelta(days=getattr(settings, self.days))
        if self.model._meta.get_field(self.field).get_internal_type() == "DateField":
            cutoff = cutoff.date()
        return self.model._default_manager.filter(self.only, **{f"{self.field}__lt": cutoff})

    def delete_batch(self, now: dt.datetime, batch: int) -> int:
        """Delete up to ``batch`` prunable rows, oldest ids first, and their links, in one statement."""
        select, params = self.prunable(now).order_by("pk").values("pk")[:batch].query.sql_with_params()
        quote = connection.ops.quote_name
        unlink = "".join(
            f", unlinked_{n} AS (DELETE FROM {quote(through._meta.db_table)} "
            f"WHERE {quote(column)} IN (SELECT id FROM doomed))"
            for n, (through, column) in enumerate(self.links)
        )
        sql = (
            f"WITH doomed (id) AS ({select}){unlink} "
            f"DELETE FROM {quote(self.model._meta.db_table)} "
            f"WHERE {quote(self.model._meta.pk.column)} IN (SELECT id FROM doomed)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount


# Daily statistics past their retention are summed into rows of this day (per environment and
# source), so totals over all time — what /metrics exports as counters — never go down.
CARRIED_OVER = dt.date(1970, 1, 1)
TicketEvents = TicketRequest.events.through
# A request any job failure still points at stays (failed ones wait for a replay; the others go
# first, after HUB_RETENTION_DAYS), and so does a batch: the deletes are raw, foreign keys hold.
has_failure = Exists(JobFailure.objects.filter(ticket_request=OuterRef("pk")))
batch_has_failure = Exists(JobFailure.objects.filter(batch=OuterRef("pk")))
outbox_key_in_ledger = Exists(
    TicketRequest.objects.filter(jira_key=Concat(Value(OUTBOX_PREFIX), Cast(OuterRef("pk"), CharField())))
)


def carry_over(rows: QuerySet[DailyStat]) -> None:
    """Add the counters of ``rows`` (about to be pruned) to the carried-over rows."""
    sums = rows.values("environment", "source").annotate(**{f: Sum(f) for f in STAT_FIELDS}).order_by()
    bump_daily_stats(
        {(row["environment"], row["source"], ""): {f: row[f] or 0 for f in STAT_FIELDS} for row in sums},
        day=CARRIED_OVER,
    )


RETENTION = (
    Retention(
        Event,
        "received_at",
        "HUB_RETENTION_DAYS",
        links=((TicketEvents, TicketRequest.events.field.m2m_reverse_name()),),
    ),
    Retention(ErrorLog, "created_at", "HUB_RETENTION_DAYS"),
    Retention(AuditEntry, "created_at", "HUB_RETENTION_DAYS"),
    Retention(Notification, "created_at", "HUB_RETENTION_DAYS"),
    # Failed job failures wait for a replay however old; the others go once settled long enough.
    Retention(
        JobFailure,
        "updated_at",
        "HUB_RETENTION_DAYS",
        only=Q(state__in=[JobFailure.State.REPLAYED, JobFailure.State.RESOLVED]),
    ),
    Retention(
        StoredBatch,
        "created_at",
        "HUB_RETENTION_DAYS",
        only=~batch_has_failure,
        kept_while=((JobFailure, "batch_id"),),
    ),
    Retention(TaskResult, "date_done", "HUB_RESULT_RETENTION_DAYS"),
    Retention(GroupResult, "date_done", "HUB_RESULT_RETENTION_DAYS"),
    # Settled requests only, and never one a failed job failure still waits to replay.
    Retention(
        TicketRequest,
        "updated_at",
        "HUB_LEDGER_RETENTION_DAYS",
        only=Q(state__in=[TicketRequest.State.CREATED, TicketRequest.State.FAILED]) & ~has_failure,
        links=((TicketEvents, TicketRequest.events.field.m2m_column_name()), (DeliveryAttempt, "request_id")),
        kept_while=((JobFailure, "ticket_request_id"),),
    ),
    # Not while a ticket request still holds its key (requests age by their last update).
    Retention(OutboxTicket, "created_at", "HUB_LEDGER_RETENTION_DAYS", only=~outbox_key_in_ledger),
    # Their counters are first carried into one row per environment and source (see carry_over).
    Retention(DailyStat, "day", "HUB_STATS_RETENTION_DAYS", only=~Q(day=CARRIED_OVER), carry=carry_over),
)


def retention_problems() -> list[str]:
    problems = [
        f"{name} is {getattr(settings, name)}: records must be kept at least 1 day"
        for name in DAYS_SETTINGS
        if getattr(settings, name) < 1
    ]
    if not 24 <= settings.HUB_HOT_RETENTION_HOURS <= 168:
        problems.append(
            f"HUB_HOT_RETENTION_HOURS is {settings.HUB_HOT_RETENTION_HOURS}: "
            "Redis keeps recent state 24 to 168 hours"
        )
    if settings.HUB_PRUNE_BATCH < 1:
        problems.append(f"HUB_PRUNE_BATCH is {settings.HUB_PRUNE_BATCH}: it must be at least 1 row")
    return problems


def prune(now: dt.datetime | None = None, *, dry_run: bool = False) -> dict[str, int]:
    """Delete every record past its retention, HUB_PRUNE_BATCH rows per statement (each batch
    commits on its own outside a transaction, so locks stay short). Returns the rows deleted
    per model label; a dry run counts them instead. One audit entry says what went, if anything."""
    problems = retention_problems()
    if problems:
        raise ImproperlyConfigured("; ".join(problems))
    now = now or timezone.now()
    batch = settings.HUB_PRUNE_BATCH
    counts = {}
    for retention in RETENTION:
        if dry_run:
            counts[retention.label] = retention.prunable(now).count()
            continue
        with transaction.atomic() if retention.carry else nullcontext():
            if retention.carry:
                retention.carry(retention.prunable(now))
            counts[retention.label] = 0
            while True:
                deleted = retention.delete_batch(now, batch)
                counts[retention.label] += deleted
                if deleted < batch:
                    break
    deleted = {label: n for label, n in counts.items() if n}
    if deleted and not dry_run:
        record_audit(
            AuditEntry.RECORDS_PRUNED,
            f"pruned {sum(deleted.values())} records past their retention: "
            + ", ".join(f"{n} {label}" for label, n in deleted.items()),
            extra={
                "deleted": deleted,
                "retention_days": {name: getattr(settings, name) for name in DAYS_SETTINGS},
            },
        )
    return counts


def aggregate_daily_stats(days: int = 2, *, now: dt.datetime | None = None) -> int:
    """Ticket latency, from the request being reserved (the event received) to Jira accepting it:
    p50 and p95 per day of sending (UTC, as the counters), environment, source and rule, over the
    last ``days`` days (today included), upserted into DailyStat with the counters left alone.
    Returns the rows touched."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    now = now or timezone.now()
    first_day = now.astimezone(dt.UTC).date() - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first_day, dt.time(), dt.UTC)
    latency = "EXTRACT(EPOCH FROM percentile_cont({}) WITHIN GROUP (ORDER BY sent_at - created_at)) * 1000"
    sql = f"""
        INSERT INTO {DailyStat._meta.db_table}
            (day, environment, source, rule, {", ".join(STAT_FIELDS)}, latency_p50_ms, latency_p95_ms)
        SELECT (sent_at AT TIME ZONE 'UTC')::date, environment, source, rule_name,
            {", ".join("0" for _ in STAT_FIELDS)}, {latency.format(0.5)}, {latency.format(0.95)}
        FROM {TicketRequest._meta.db_table}
        WHERE sent_at >= %s
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (day, environment, source, rule) DO UPDATE SET
            latency_p50_ms = EXCLUDED.latency_p50_ms, latency_p95_ms = EXCLUDED.latency_p95_ms
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [since])  # ordered: concurrent upserts lock rows in one order
        return cursor.rowcount
