"""Lookups the pages and the API share: one job, one ticket request with its events, errors and
failures filtered. Hot first (Redis), then cold (PostgreSQL)."""

import ast
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.http import urlencode
from django_celery_results.models import TaskResult

from jira_bridge.ledger import CREATE_TASK
from jira_bridge.models import TicketRequest
from jira_bridge.tasks import update_ticket_task
from notifications import hot
from notifications.jobs import is_failure
from notifications.models import DailyStat, ErrorLog, Event, JobFailure, Source
from rules.backfill import payload_redactors, redacted_payload

Lookup = str | Callable[[str], Q]
TICKET_TASKS = {CREATE_TASK, update_ticket_task.name}


class BadFilter(ValueError):
    """A filter value the hub cannot use: refused with this message, never ignored."""


def find_job(task_id: str) -> dict[str, Any] | None:
    """A job by its Celery task id: from the hot store while it is recent, then from the task
    results in PostgreSQL. Links it to its ticket request and its job failure, if any."""
    job = hot.job(task_id)
    if job is None:
        result = TaskResult.objects.filter(task_id=task_id).first()
        if result is None:
            return None
        job = job_from_result(result)
    job["ticket_request"] = ticket_request_of(job)
    job["events_url"] = events_url(job)
    failure = JobFailure.objects.filter(task_id=task_id).first()
    job["job_failure"] = failure.pk if failure else None
    return job


def job_from_result(result: TaskResult) -> dict[str, Any]:
    """A job as the hot store describes it, from its task result in PostgreSQL."""
    value = loads(result.result)
    return {
        "id": result.task_id,
        "name": result.task_name or "",
        "queue": "",  # task results do not keep the queue
        "state": result.status,
        "failed": is_failure(result.status, value),
        "env": "",
        "args": result.task_args or "",
        "result": value,
        "error": result.traceback or "",
        "started": None,
        "finished": result.date_done.timestamp() if result.date_done else None,
        "runtime_ms": None,
        "cold": True,
    }


def events_url(job: dict[str, Any]) -> str:
    """For a batch job: the admin's list of the events its environment received while it ran
    (events do not name the job that recorded them)."""
    if not (job.get("env") and job.get("started") and job.get("finished")) or job.get("name") in TICKET_TASKS:
        return ""
    window = {
        "environment": job["env"],
        "received_at__gte": dt.datetime.fromtimestamp(job["started"], dt.UTC).isoformat(),
        "received_at__lte": dt.datetime.fromtimestamp(job["finished"], dt.UTC).isoformat(),
    }
    return f"{reverse('admin:notifications_event_changelist')}?{urlencode(window)}"


def ticket_request_of(job: dict[str, Any]) -> int | None:
    """The ticket request a Jira job worked on: its only argument (hot: ``arg0``; cold: the
    stored repr of the arguments, e.g. ``(42,)``)."""
    if job.get("name") not in TICKET_TASKS:
        return None
    first = job.get("arg0")
    if first is None:
        try:
            first = ast.literal_eval(str(job.get("args") or "()"))[0]
        except (ValueError, SyntaxError, IndexError, TypeError, KeyError):
            return None
    return first if isinstance(first, int) else None


def loads(value: str | None) -> Any:
    try:
        return orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return value


@dataclass
class TicketView:
    request: TicketRequest
    events: list[Event]
    event_count: int
    failures: list[JobFailure]


def ticket_view(pk: int, events_shown: int = 20) -> TicketView | None:
    request = TicketRequest.objects.select_related("rule").filter(pk=pk).first()
    if request is None:
        return None
    events = request.events.order_by("id")
    shown, redactors = list(events[:events_shown]), payload_redactors()
    for event in shown:
        event.payload = redacted_payload(event, redactors)
    return TicketView(
        request=request,
        events=shown,
        event_count=events.count(),
        failures=list(request.failures.all()),
    )


@dataclass
class Filters:
    """The error viewer's and the API's filters; empty means any."""

    environment: str = ""
    source: str = ""
    rule: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    @classmethod
    def from_query(cls, query) -> "Filters":
        """From query parameters; raises BadFilter for an unknown environment or source, or a
        time that is not an ISO date or date-time."""
        filters = cls(
            environment=query.get("environment", "").strip(),
            source=query.get("source", "").strip(),
            rule=query.get("rule", "").strip(),
            since=moment("since", query.get("since", "")),
            until=moment("until", query.get("until", ""), end_of_day=True),
        )
        if filters.environment and filters.environment not in settings.HUB_ENVIRONMENTS:
            raise BadFilter(f"environment: {filters.environment!r} is not one of {settings.HUB_ENVIRONMENTS}")
        if filters.source and filters.source not in Source.values:
            raise BadFilter(f"source: {filters.source!r} is not one of {Source.values}")
        return filters

    def narrow(self, rows: QuerySet, *, source: Lookup, rule: Lookup, time: str = "created_at") -> QuerySet:
        """``rows`` within these filters; ``source`` and ``rule`` name the field to compare, or
        build the condition from the value."""
        for value, lookup in ((self.environment, "environment"), (self.source, source), (self.rule, rule)):
            if value:
                rows = rows.filter(lookup(value) if callable(lookup) else Q(**{lookup: value}))
        date_only = rows.model._meta.get_field(time).get_internal_type() == "DateField"
        for moment_, op in ((self.since, "gte"), (self.until, "lte")):
            if moment_:
                rows = rows.filter(**{f"{time}__{op}": moment_.date() if date_only else moment_})
        return rows

    def errors(self) -> QuerySet[ErrorLog]:
        return self.narrow(
            ErrorLog.objects.all(),
            source="source",
            rule=lambda name: Q(context__rule=name) | Q(where__startswith=f"rule {name},"),
        )

    def failures(self) -> QuerySet[JobFailure]:
        return self.narrow(
            JobFailure.objects.all(),
            source=lambda src: (
                Q(task_name__startswith="jira_bridge.") if src == "jira" else Q(queue__startswith=f"{src}:")
            ),
            rule="payload__rule",
        )

    def tickets(self) -> QuerySet[TicketRequest]:
        return self.narrow(TicketRequest.objects.all(), source="source", rule="rule_name")

    def daily_stats(self) -> QuerySet[DailyStat]:
        return self.narrow(DailyStat.objects.all(), source="source", rule="rule", time="day")


def moment(name: str, text: str, end_of_day: bool = False) -> dt.datetime | None:
    """An ISO date or date-time from a query string (UTC when no zone), None if empty; raises
    BadFilter for anything else (an impossible date included)."""
    text = text.strip()
    if not text:
        return None
    try:
        value = parse_datetime(text)
        if value is None and len(text) == 10 and (day := parse_date(text)):
            value = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min)
    except ValueError:  # well formed but impossible, e.g. 2024-02-30
        value = None
    if value is None:
        raise BadFilter(f"{name}: {text!r} is not an ISO date (2026-11-21) or date-time")
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
