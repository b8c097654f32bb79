"""The idempotency ledger: ticket requests recorded once per key, and the transitions that end
an attempt (created, failed) with everything they record. Plain functions over the database."""

import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from jira_bridge.models import TicketRequest, marker_label
from notifications.models import AuditEntry, Event, JobFailure
from notifications.records import (
    audit_entry,
    bump_daily_stats,
    notify,
    record_audit,
    record_audits,
    record_job_failure,
)

CREATE_TASK = "jira_bridge.create_ticket"
State = TicketRequest.State


@dataclass
class TicketDraft:
    """A ticket the rules want: its ledger key, its fields, and the events behind it."""

    key: str
    rule_id: int | None
    rule_name: str
    environment: str
    source: str
    fields: dict[str, Any]
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


@dataclass
class Requested:
    created: list[int] = field(default_factory=list)  # new requests, to be sent
    joined: list[int] = field(default_factory=list)  # existing requests that new events joined


def request_tickets(drafts: list[TicketDraft]) -> Requested:
    """Record ticket requests, one per key however often a key is asked for, and link each to
    its events. The marker label goes into the fields, so what is stored is what Jira gets.
    Call inside the transaction that stores the events."""
    if not drafts:
        return Requested()
    keys = [d.key for d in drafts]
    existing = set(TicketRequest.objects.filter(key__in=keys).values_list("key", flat=True))
    fresh = [d for d in drafts if d.key not in existing]
    TicketRequest.objects.bulk_create(
        [
            TicketRequest(
                key=d.key,
                rule_id=d.rule_id,
                rule_name=d.rule_name,
                environment=d.environment,
                source=d.source,
                fields=with_marker(d.fields, d.key),
                group_key=d.group_key,
                window_ends_at=d.window_ends_at,
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
            f"rule {d.rule_name} asked for: {d.fields.get('summary', '')}",
            environment=d.environment,
            extra={"request_id": ids[d.key], "key": d.key, "events": len(d.events)},
        )
        for d in fresh
    )
    joined = sorted({ids[d.key] for d in drafts if d.key in existing})
    return Requested(created=[ids[d.key] for d in fresh], joined=joined)


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
            request.fields,
            group_key=request.group_key,
            window_ends_at=request.window_ends_at,
        )  # fmt: skip
        for request in latest
    }
    drafts: dict[str, TicketDraft] = {}
    for match in sorted(matches, key=lambda m: m.at):
        current = open_windows.get(match.draft.group_key)
        if current is None or (current.window_ends_at is not None and match.at >= current.window_ends_at):
            current = match.draft
            current.key = digest_key(current.group_key, match.at)
            current.window_ends_at = match.at + dt.timedelta(seconds=match.window) if match.window else None
            open_windows[current.group_key] = current
        draft = drafts.setdefault(current.key, current)
        draft.events += match.draft.events if draft is not match.draft else []
    return list(drafts.values())


def digest_key(group_key: str, opened_at: dt.datetime) -> str:
    return hashlib.sha256(f"{group_key}|{opened_at.isoformat()}".encode()).hexdigest()[:40]


def with_marker(fields: dict[str, Any], key: str) -> dict[str, Any]:
    labels = list(fields.get("labels", []))
    if marker_label(key) not in labels:
        labels.append(marker_label(key))
    return {**fields, "labels": labels}


SUBJECT_PREFIX = "ticket_request:"  # a dead letter's subject: the request it gave up on


def dead_letter_subject(request_id: int) -> str:
    return f"{SUBJECT_PREFIX}{request_id}"


def history_entry(outcome: str, status: int | None = None, error: str = "") -> dict[str, Any]:
    return {"at": timezone.now().isoformat(), "outcome": outcome, "status": status, "error": error}


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter, capped at JIRA_BACKOFF_MAX (which stays below the
    broker's visibility timeout, so no waiting message is delivered twice)."""
    ceiling = min(settings.JIRA_BACKOFF_MAX, settings.JIRA_BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


def creating_lease() -> timedelta:
    """How long an attempt may hold a request in 'creating': past it, the worker is taken for
    dead (killed mid-call) and the outcome for unknown."""
    return timedelta(seconds=2 * settings.JIRA_TIMEOUT + settings.JIRA_LEASE_MARGIN)


@transaction.atomic
def mark_created(request: TicketRequest, jira_key: str, how: str) -> bool:
    """Record the ticket's key; ``how`` is 'created' or 'found' (by its marker, after an
    ambiguous attempt). False if the request had meanwhile left creating/ambiguous."""
    now = timezone.now()
    request.history.append(history_entry(how))
    changes = {
        "state": State.CREATED,
        "jira_key": jira_key,
        "sent_at": now,
        "last_error": "",
        "history": request.history,
        "ambiguous_since": None,
        "updated_at": now,
    }
    changed = TicketRequest.objects.filter(pk=request.pk, state__in=[State.CREATING, State.AMBIGUOUS]).update(
        **changes,
        commented_events=distinct_events_of(OuterRef("pk")),  # the new ticket tells of these
    )
    if not changed:
        return False
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
        history=request.history,
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
        subject=dead_letter_subject(request.pk),
        payload={
            "request_id": request.pk,
            "key": request.key,
            "rule": request.rule_name,
            "fields": request.fields,
        },
        attempts=request.history,
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


def stalled_requests() -> list[int]:
    """Requests that no message will move on: reserved or ambiguous and untouched for longer
    than any wait (their message was lost), or creating past the lease (the worker died)."""
    now = timezone.now()
    quiet = now - timedelta(seconds=2 * settings.JIRA_BACKOFF_MAX)
    stalled = TicketRequest.objects.filter(
        state__in=[State.RESERVED, State.AMBIGUOUS], updated_at__lt=quiet
    ) | TicketRequest.objects.filter(state=State.CREATING, claimed_at__lt=now - creating_lease())
    return list(stalled.order_by("id").values_list("id", flat=True)[:1000])
