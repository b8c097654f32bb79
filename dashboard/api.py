"""The JSON API, served at /api/ and described by its OpenAPI schema (/api/openapi.json, browsable
at /api/docs). `Authorization: Bearer <token>` from `manage.py create_api_token`, or a staff session
(CSRF applies to its writes); the token acts as its user, so roles apply the same way. Only
/api/health is public."""

import datetime as dt
import functools
import hashlib
import uuid
from typing import Any, Literal

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django_celery_results.models import TaskResult
from ninja import Field, NinjaAPI, Query, Schema
from ninja.errors import HttpError
from ninja.responses import Status
from ninja.security import HttpBearer, SessionAuthIsStaff

import receivers.base
import receivers.registry
from core.health import report
from core.roles import ASK_FOR_TICKETS_PERMISSION, REPLAY_PERMISSION
from core.throttle import Throttled, count_token, refusal, uncount_token
from dashboard import queries
from dashboard.models import ApiToken
from dashboard.snapshot import queue_state
from jira_bridge.ledger import TicketDraft, attempts_of, request_tickets
from jira_bridge.models import TicketRequest
from jira_bridge.tasks import send_requests
from notifications import hot
from notifications.models import JobFailure, Source
from pipeline.replay import replay_one

PAGE_MAX = 200


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        """Raises throttle.Throttled for a client that has sent too many refused tokens."""
        count_token(request)  # as refused until it proves good, so a burst cannot pass the limit
        user = ApiToken.user_for(token)
        if user is not None and user.is_staff:
            uncount_token(request)
            request.user = user  # permissions below are the token's user's
            return user
        return None


def staff_or_token(view):
    """For the schema and its docs page: a staff session, or the same bearer token as the API."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs):
        try:
            if BearerToken()(request) is not None:
                return view(request, *args, **kwargs)
        except Throttled as exc:
            return refusal(exc)
        return staff_member_required(view)(request, *args, **kwargs)

    return guarded


api = NinjaAPI(
    title="The hub",
    version="1",
    description=__doc__,
    urls_namespace="api",
    # The token first: the session's authenticator checks CSRF before it looks at anything and
    # refuses the request outright, so a token would never be tried on a write. A browser never
    # sends a bearer token by itself, so a request that carries one needs no CSRF check.
    auth=[BearerToken(), SessionAuthIsStaff()],
    docs_decorator=staff_or_token,
)


@api.exception_handler(Throttled)
def throttled(request: HttpRequest, exc: Throttled):
    response = api.create_response(request, {"detail": str(exc)}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


def require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise HttpError(403, f"needs the permission {permission} (the operators role)")


def page_of(rows, page: int, size: int) -> list:
    offset = (page - 1) * size
    return list(rows[offset : offset + size])


def in_state(rows, state: str, filters: "Filters") -> list:
    return page_of(rows.filter(state=state) if state else rows, filters.page, filters.size)


Page = Query(1, ge=1)
Size = Query(50, ge=1, le=PAGE_MAX)


# --- Schemas ------------------------------------------------------------------------------------


class Filters(Schema):
    environment: str = ""
    source: str = ""
    rule: str = ""
    since: str = Field("", description="ISO date or date-time (UTC if no zone)")
    until: str = Field("", description="ISO date (whole day) or date-time")
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=PAGE_MAX)

    def parsed(self) -> queries.Filters:
        try:
            return queries.Filters.from_query(self.dict())
        except queries.BadFilter as exc:
            raise HttpError(422, str(exc)) from exc


class Queue(Schema):
    name: str
    waiting: int
    active: int
    scheduled: int
    dead_letter: int


class Queues(Schema):
    queues: list[Queue]
    breaker: dict[str, Any]
    budget: dict[str, Any]
    workers: int


class Job(Schema):
    id: str
    name: str
    queue: str
    state: str
    failed: bool
    env: str = ""
    args: str | None = None
    result: Any = None
    error: str = ""
    started: float | None = None
    finished: float | None = None
    runtime_ms: float | None = None


class JobDetail(Job):
    ticket_request: int | None = None
    job_failure: int | None = None
    cold: bool = False


class JobPage(Schema):
    source: Literal["redis", "postgresql"]
    page: int
    jobs: list[Job]


class Failure(Schema):
    id: int
    created_at: dt.datetime
    task_name: str
    queue: str
    environment: str
    subject: str = Field(description="what failed: a ticket request or a stored batch")
    ticket_request_id: int | None = None
    batch_id: int | None = None
    state: str
    attempts: list[dict[str, Any]]
    last_error: str
    payload: dict[str, Any]


class Ticket(Schema):
    id: int
    key: str
    state: str
    rule_name: str
    environment: str
    source: str
    jira_key: str
    jira_link: str
    summary: str
    attempts: int
    last_error: str
    created_at: dt.datetime
    sent_at: dt.datetime | None


class TicketDetail(Ticket):
    fields: dict[str, Any]
    full_description: str = Field(
        description="the description as rendered, before it was cut for Jira (what the cut note "
        "points to); empty when it was not cut"
    )
    history: list[dict[str, Any]]
    events: list[int]


class NewTicket(Schema):
    """A ticket asked for directly (the original Jira service's POST /tickets)."""

    summary: str = Field(
        ..., min_length=1, description="made one line (white space runs become one space), cut to 255 with …"
    )
    description: str = Field("", description="over 32,767 characters: cut, with a link to the full text")
    project: str = Field("", description="Jira project key; default JIRA_DEFAULT_PROJECT")
    issue_type: str = "Task"
    priority: str = ""
    labels: list[str] = Field(
        [], description='each non-empty, without white space, at most 255 characters, not starting "hub-"'
    )
    environment: str = Field(..., description="one of HUB_ENVIRONMENTS")
    idempotency_key: str = Field("", max_length=200, description="the same key never makes two tickets")


class DailyRow(Schema):
    day: dt.date
    environment: str
    source: str
    rule: str
    events: int
    duplicates: int
    matched: int
    silenced: int
    tickets: int
    failures: int
    bad_input: int
    latency_p50_ms: float | None = Field(None, description="event received to ticket in Jira, median")
    latency_p95_ms: float | None = None


class Publisher(Schema):
    """An environment's publisher, as its last batch told: all but ``environment`` are null until
    one has come."""

    environment: str
    source: str | None = Field(None, description="binlog or maxwell")
    origin: str | None = Field(None, description="where it reads: host and input")
    position: str | None = Field(
        None,
        description="binlog file:position: where the binlog source reads on from once that batch "
        "is delivered (its checkpoint); for Maxwell, that of the last event that had one",
    )
    server_id: int | None = None
    server_uuid: str | None = Field(None, description="MySQL's; MariaDB has none")
    log_file_created: int | None = Field(None, description="when its binlog file was begun, epoch s")
    received_at: float | None = Field(None, description="when the hub received the batch, epoch seconds")
    age_seconds: float | None = Field(None, description="seconds since then")


class Replayed(Schema):
    id: int
    summary: str
    state: str


# --- Endpoints ----------------------------------------------------------------------------------


@api.get(
    "/health", auth=None, response={200: dict, 503: dict},
    summary="Database, Redis, broker and worker heartbeats (public)",
)  # fmt: skip
def health(request: HttpRequest):
    body, healthy = report()
    return Status(200 if healthy else 503, body)


@api.get("/queues", response=Queues, summary="Per-queue depth, the Jira breaker and budget")
def queues(request: HttpRequest):
    return queue_state()


@api.get("/publishers", response=list[Publisher], summary="Per environment: the publisher's last position")
def publishers(request: HttpRequest):
    return hot.publishers(settings.HUB_ENVIRONMENTS)


@api.get("/jobs", response=JobPage, summary="Finished jobs: recent from Redis, older from PostgreSQL")
def jobs(
    request: HttpRequest,
    queue: str = "",
    state: Literal["all", "completed", "failed"] = "all",
    name: str = "",
    page: int = Page,
    size: int = Size,
    older: bool = Query(False, description="page through task results in PostgreSQL (by name, not queue)"),
):
    if queue and queue not in hot.queue_names():
        raise HttpError(422, f"queue: {queue!r} is not one of {hot.queue_names()}")
    if not older:
        recent = hot.recent_jobs(queue or None, state, limit=page * size, name=name)
        return {"source": "redis", "page": page, "jobs": recent[(page - 1) * size : page * size]}
    if queue:
        raise HttpError(422, "queue: task results in PostgreSQL do not keep the queue; filter by name")
    rows = TaskResult.objects.order_by("-date_done")
    if name:
        rows = rows.filter(task_name=name)
    if state == "completed":
        rows = rows.filter(status="SUCCESS")
    elif state == "failed":
        rows = rows.exclude(status="SUCCESS")
    found = page_of(rows, page, size)
    return {"source": "postgresql", "page": page, "jobs": [queries.job_from_result(r) for r in found]}


@api.get("/jobs/{task_id}", response=JobDetail, summary="One job, linked to its ticket request or failure")
def job(request: HttpRequest, task_id: str):
    found = queries.find_job(task_id)
    if found is None:
        raise HttpError(404, "no such job")
    return found


@api.get("/failures", response=list[Failure], summary="Job failures (dead letters), newest first")
def failures(request: HttpRequest, filters: Query[Filters], state: JobFailure.State | None = None):
    return in_state(filters.parsed().failures(), state, filters)


@api.post("/failures/{failure_id}/replay", response=Replayed, summary="Replay a dead letter (operators)")
def replay_failure(request: HttpRequest, failure_id: int):
    require(request, REPLAY_PERMISSION)
    try:
        plan, failure = replay_one(failure_id, actor=request.user.get_username())
    except JobFailure.DoesNotExist as exc:
        raise HttpError(404, "no such job failure") from exc
    return {"id": failure.pk, "summary": plan.summary(), "state": failure.state}


@api.get("/stats/daily", response=list[DailyRow], summary="Daily statistics per environment, source, rule")
def daily_stats(request: HttpRequest, filters: Query[Filters]):
    return page_of(filters.parsed().daily_stats(), filters.page, filters.size)


@api.get("/tickets", response=list[Ticket], summary="Ticket requests (the ledger), newest first")
def tickets(request: HttpRequest, filters: Query[Filters], state: TicketRequest.State | None = None):
    return in_state(filters.parsed().tickets(), state, filters)


@api.get("/tickets/{request_id}", response=TicketDetail, summary="One ticket request")
def ticket(request: HttpRequest, request_id: int):
    found = get_object_or_404(TicketRequest, pk=request_id)
    return ticket_detail(found, list(found.events.values_list("id", flat=True)[:1000]))


@api.post("/tickets", response={201: TicketDetail, 200: TicketDetail}, summary="Ask for a ticket (operators)")
def create_ticket(request: HttpRequest, body: NewTicket):
    """Through the same ledger and Jira budget as rule tickets: created once per idempotency key,
    sent by a worker; 201 when new, 200 when the key was asked for before. The ledger brings the
    fields within Jira's limits; what it cannot fix (an empty summary, a bad label) is a 422, as is
    a label starting "hub-", reserved for the hub's markers (receivers.jira.limits)."""
    require(request, ASK_FOR_TICKETS_PERMISSION)
    if body.environment not in settings.HUB_ENVIRONMENTS:
        raise HttpError(422, f"environment must be one of {settings.HUB_ENVIRONMENTS}")
    project = body.project or settings.JIRA_DEFAULT_PROJECT
    if not project:
        raise HttpError(422, "project is required (no JIRA_DEFAULT_PROJECT is set)")
    ticket = receivers.base.Ticket(
        title=body.summary,
        body=body.description,
        labels=tuple(body.labels),
        priority=body.priority,
        extras={"jira": {"project": project, "issue_type": body.issue_type}},
    )
    problems = receivers.registry.ticket_problems(ticket)
    if problems:
        raise HttpError(422, "; ".join(problems))
    identity = body.idempotency_key or uuid.uuid4().hex
    key = hashlib.sha256(f"api\0{identity}".encode()).hexdigest()
    draft = TicketDraft(
        key, None, f"api:{request.user.get_username()}", body.environment, Source.SYSTEM, ticket
    )
    with transaction.atomic():
        requested = request_tickets([draft])
        transaction.on_commit(lambda: send_requests(requested.created, []))
    found = TicketRequest.objects.get(key=key)
    return Status(201 if requested.created else 200, ticket_detail(found, []))


def ticket_detail(found: TicketRequest, events: list[int]) -> dict[str, Any]:
    return {
        **{name: getattr(found, name) for name in Ticket.model_fields},
        "fields": found.fields,
        "full_description": found.full_description,
        "history": attempts_of(found),
        "events": events,
    }
