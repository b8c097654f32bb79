"""The idempotency ledger: ticket requests recorded once per key, and the transitions that end
an attempt (created, failed) with everything they record. Plain functions over the database."""

import datetime as dt
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from jira_bridge.models import DeliveryAttempt, TicketRequest
from notifications.models import AuditEntry, Event, JobFailure
from notifications.records import (
    audit_entry,
    bump_daily_stats,
    notify,
    record_audit,
    record_audits,
    record_job_failure,
)
from receivers.base import Origin, Ticket
from receivers.registry import default_receiver

CREATE_TASK = "jira_bridge.create_ticket"
State = TicketRequest.State


@dataclass
class TicketDraft:
    """A ticket the rules want: its ledger key, the ticket, and the events behind it. ``ticket``
    is None for a group's ticket that is already requested (events join it)."""

    key: str
    rule_id: int | None
    rule_name: str
    environment: str
    source: str
    ticket: Ticket | None
    events: list[Event] = field(default_factory=list)
    group_key: str = ""
    window_ends_at: dt.datetime | None = None


@dataclass
class GroupedMatch:
    """An event matched by a grouped rule: which ticket of its group it joins is decided by
    group_drafts, against the group's open window."""

    draft: TicketDraft  # the ticket this event would open, were it the group's first
    at: dt.datetime  # when the event happened
    window: int | None  # seconds; None: the group's ticket never closes
    # The draft's ticket, called only if this event opens one (None: it could not be rendered,
    # and the next event of its group may open it). Without it, the draft's ticket is used.
    render: Callable[[], Ticket | None] | None = None


@dataclass
class Requested:
    created: list[int] = field(default_factory=list)  # new requests, to be sent
    joined: list[int] = field(default_factory=list)  # existing requests that new events joined


def request_tickets(drafts: list[TicketDraft]) -> Requested:
    """Record ticket requests, one per key however often a key is asked for, and link each to
    its events. The default receiver prepares each new ticket here (Jira's fields, within Jira's
    limits, with the marker label: a cut description keeps its full text on the request, linked
    from the note), so what is stored is what it gets. What no fix can mend (the receiver's
    ``problems``) is left for it to refuse, into the dead letter with its reason: the API refuses
    it first, the rule file at import. Call inside the transaction that stores the events."""
    if not drafts:
        return Requested()
    keys = [d.key for d in drafts]
    existing = set(TicketRequest.objects.filter(key__in=keys).values_list("key", flat=True))
    fresh = [d for d in drafts if d.key not in existing and d.ticket is not None]
    receiver = default_receiver()
    prepared = {d.key: receiver.prepare(d.ticket, origin_of(d)) for d in fresh}
    TicketRequest.objects.bulk_create(
        [
            TicketRequest(
                key=d.key,
                rule_id=d.rule_id,
                rule_name=d.rule_name,
                environment=d.environment,
                source=d.source,
                fields=prepared[d.key].payload,
                full_description=prepared[d.key].full_body,
                group_key=d.group_key,
                window_ends_at=d.window_ends_at,
                next_attempt_at=timezone.now(),  # its message goes once this transaction commits
            )
            for d in fresh
        ],
        ignore_conflicts=True,  # another worker may have recorded the same key meanwhile
    )
    ids = dict(TicketRequest.objects.filter(key__in=keys).values_list("key", "id"))
    link = TicketRequest.events.through
    link.objects.bulk_create(
        [link(ticketrequest_id=ids[d.key], event_id=e.pk) for d in drafts for e in d.events],
        ignore_conflicts=True,
    )
    record_audits(
        audit_entry(
            AuditEntry.TICKET_REQUESTED,
            f"rule {d.rule_name} asked for: {d.ticket.title}",
            environment=d.environment,
            extra={"request_id": ids[d.key], "key": d.key, "events": len(d.events)},
        )
        for d in fresh
    )
    joined = sorted({ids[d.key] for d in drafts if d.key in existing})
    return Requested(created=[ids[d.key] for d in fresh], joined=joined)


def origin_of(draft: TicketDraft) -> Origin:
    return Origin(
        draft.key,
        full_text_url(draft.key),
        draft.rule_name,
        draft.environment,
        draft.source,
        len(draft.events),
    )


def distinct_events(request: TicketRequest) -> int:
    """Events behind a request, a redelivered event counted once."""
    return request.events.values("event_id").distinct().count()


def distinct_events_of(request_ref) -> Coalesce:
    """distinct_events as an expression, for use inside an UPDATE."""
    count = (
        Event.objects.filter(ticket_requests=request_ref)
        .order_by()
        .values("ticket_requests")
        .annotate(n=Count("event_id", distinct=True))
        .values("n")
    )
    return Coalesce(Subquery(count), 0)


def group_drafts(matches: list[GroupedMatch]) -> list[TicketDraft]:
    """Drafts for grouped matches: an event joins its group's ticket while that ticket's window
    (from its first event) is open, else opens the next one. Groups are locked for the rest of
    the transaction, so two workers never open two tickets for one window. Call inside the
    transaction that stores the events."""
    if not matches:
        return []
    keys = sorted({m.draft.group_key for m in matches})
    with connection.cursor() as cursor:
        for key in keys:  # in one order everywhere: no deadlocks between workers
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])
    latest = (  # each group's latest ticket only, however many windows it had before
        TicketRequest.objects.filter(group_key__in=keys)
        .order_by("group_key", "-created_at", "-id")
        .distinct("group_key")
    )
    open_windows = {
        request.group_key: TicketDraft(
            request.key,
            request.rule_id,
            request.rule_name,
            request.environment,
            request.source,
            None,  # requested already: its events join it
            group_key=request.group_key,
            window_ends_at=request.window_ends_at,
        )  # fmt: skip
        for request in latest
    }
    drafts: dict[str, TicketDraft] = {}
    for match in sorted(matches, key=lambda m: m.at):
        current = open_windows.get(match.draft.group_key)
        if current is None or (current.window_ends_at is not None and match.at >= current.window_ends_at):
            if match.render is not None:
                ticket = match.render()
                if ticket is None:
                    continue
                match.draft.ticket = ticket
            current = match.draft
            current.key = digest_key(current.group_key, match.at)
            current.window_ends_at = match.at + dt.timedelta(seconds=match.window) if match.window else None
            open_windows[current.group_key] = current
        draft = drafts.setdefault(current.key, current)
        draft.events += match.draft.events if draft is not match.draft else []
    return list(drafts.values())


def digest_key(group_key: str, opened_at: dt.datetime) -> str:
    return hashlib.sha256(f"{group_key}|{opened_at.isoformat()}".encode()).hexdigest()[:40]


def full_text_url(key: str) -> str:
    """The hub's page of the request with this key (known before the request is stored)."""
    return settings.HUB_BASE_URL.rstrip("/") + reverse("dashboard:ticket-by-key", args=[key])


def note_attempt(
    request: TicketRequest,
    outcome: str,
    status: int | None = None,
    error: str = "",
    duration_ms: int | None = None,
) -> DeliveryAttempt:
    """Record one try at ``request`` (or one look for it) as it ends."""
    if status is not None and not 0 <= status <= 32767:  # not an HTTP or SMTP status: in the error
        status, error = None, f"status {status}; {error}"
    return DeliveryAttempt.objects.create(
        request_id=request.pk, outcome=outcome, status=status, error=error, duration_ms=duration_ms
    )


def attempts_of(request: TicketRequest) -> list[dict[str, Any]]:
    return [attempt.as_dict() for attempt in request.tries.all()]


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter, capped at JIRA_BACKOFF_MAX (which stays below the
    broker's visibility timeout, so no waiting message is delivered twice)."""
    ceiling = min(settings.JIRA_BACKOFF_MAX, settings.JIRA_BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


def attempt_bound() -> timedelta:
    """The longest a living worker's create call lasts: connecting, then reading, each within
    JIRA_TIMEOUT."""
    return timedelta(seconds=2 * settings.JIRA_TIMEOUT)


def creating_lease() -> timedelta:
    """How long an attempt may hold a request in 'creating': past it, the worker is taken for
    dead (killed mid-call) and the outcome for unknown."""
    return attempt_bound() + timedelta(seconds=settings.JIRA_LEASE_MARGIN)


@transaction.atomic
def mark_created(request: TicketRequest, jira_key: str, how: str, duration_ms: int | None = None) -> bool:
    """Record the ticket's key; ``how`` is 'created' or 'found' (by its marker, after an
    ambiguous attempt). False if the request had meanwhile left creating/ambiguous."""
    now = timezone.now()
    changes = {
        "state": State.CREATED,
        "jira_key": jira_key,
        "sent_at": now,
        "last_error": "",
        "ambiguous_since": None,
        "updated_at": now,
    }
    changed = TicketRequest.objects.filter(pk=request.pk, state__in=[State.CREATING, State.AMBIGUOUS]).update(
        **changes,
        commented_events=distinct_events_of(OuterRef("pk")),  # the new ticket tells of these
    )
    if not changed:
        return False
    note_attempt(request, how, duration_ms=duration_ms)
    for name, value in changes.items():
        setattr(request, name, value)
    summary = request.summary
    record_audit(
        AuditEntry.TICKET_CREATED,
        f"{jira_key}: {summary}"
        + (" (found by its marker after an unclear attempt)" if how == "found" else ""),
        environment=request.environment,
        obj=request,
        extra={"jira_key": jira_key, "rule": request.rule_name, "how": how},
    )
    notify(f"{jira_key} created: {summary}", environment=request.environment, link=request.jira_link)
    bump_daily_stats({(request.environment, request.source, request.rule_name): {"tickets": 1}})
    return True


@transaction.atomic
def mark_failed(request: TicketRequest) -> JobFailure | None:
    """Give up on a request: a job failure with every attempt (the dead letter), an audit
    entry, a notification and the day's failure count. None if another worker settled the
    request meanwhile (found its ticket, say): then there is nothing to give up."""
    changed = TicketRequest.objects.filter(
        pk=request.pk, state__in=[State.RESERVED, State.CREATING, State.AMBIGUOUS]
    ).update(
        state=State.FAILED,
        last_error=request.last_error,
        attempts=request.attempts,
        updated_at=timezone.now(),
    )
    if not changed:
        return None
    request.state = State.FAILED
    summary = request.summary
    failure = record_job_failure(
        task_name=CREATE_TASK,
        queue=settings.JIRA_CREATE_QUEUE,
        environment=request.environment,
        ticket_request=request,
        payload={
            "request_id": request.pk,
            "key": request.key,
            "rule": request.rule_name,
            "fields": request.fields,
        },
        attempts=attempts_of(request),
        last_error=request.last_error,
    )
    record_audit(
        AuditEntry.TICKET_FAILED,
        f"gave up after {request.attempts} attempts: {summary}",
        environment=request.environment,
        obj=request,
        extra={"error": request.last_error, "job_failure": failure.pk},
    )
    notify(f"Ticket failed: {summary}", request.last_error, level="error", environment=request.environment)
    bump_daily_stats({(request.environment, request.source, request.rule_name): {"failures": 1}})
    return failure


def schedule_attempt(request_id: int, seconds: float) -> None:
    """Note when the message that moves a request on next is due (a wait or a retry)."""
    TicketRequest.objects.filter(pk=request_id).update(
        next_attempt_at=timezone.now() + timedelta(seconds=seconds)
    )


def stalled_requests() -> list[int]:
    """Requests that no message will move on: reserved or ambiguous and overdue by
    JIRA_REQUEUE_GRACE (their message was lost: a worker killed while holding it, a broker that
    forgot it), or creating past the lease (the worker died mid-call). Each is due again a backoff
    later, so a long queue behind the budget is not sent twice per run."""
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.JIRA_REQUEUE_GRACE)
    legacy = now - timedelta(seconds=2 * settings.JIRA_BACKOFF_MAX)  # rows from before next_attempt_at
    waiting = TicketRequest.objects.filter(state__in=[State.RESERVED, State.AMBIGUOUS])
    stalled = (
        waiting.filter(next_attempt_at__lt=overdue)
        | waiting.filter(next_attempt_at__isnull=True, updated_at__lt=legacy)
        | TicketRequest.objects.filter(state=State.CREATING, claimed_at__lt=now - creating_lease())
    )
    ids = list(stalled.order_by("id").values_list("id", flat=True)[:1000])
    TicketRequest.objects.filter(pk__in=ids).update(
        next_attempt_at=now + timedelta(seconds=settings.JIRA_BACKOFF_MAX)
    )
    return ids
