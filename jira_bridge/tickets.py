"""Ticket requests: recording them (once per key) and sending one to Jira, with the decision of
what happens after a failure. Tasks and commands call these; they hold no Celery code."""

import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jira_bridge.client import PermanentTicketError, TicketClient, TicketError, TransientTicketError
from jira_bridge.models import TicketRequest
from notifications.models import AuditEntry, Event
from notifications.records import (
    audit_entry,
    bump_daily_stats,
    notify,
    record_audit,
    record_audits,
    record_job_failure,
)

CREATE_TASK = "jira_bridge.create_ticket"


@dataclass
class TicketDraft:
    """A ticket the rules want: its ledger key, its fields, and the events behind it."""

    key: str
    rule_id: int
    rule_name: str
    environment: str
    source: str
    fields: dict[str, Any]
    events: list[Event] = field(default_factory=list)


def request_tickets(drafts: list[TicketDraft]) -> list[int]:
    """Record ticket requests, one per key however often a key is asked for, and link each to
    its events. Returns the ids of the requests that are new (to be sent). Call inside the
    transaction that stores the events."""
    if not drafts:
        return []
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
                fields=d.fields,
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
    return [ids[d.key] for d in fresh]


@dataclass
class SendOutcome:
    state: str  # the request's state after this attempt, or "skipped" if it was not ours to send
    retry_in: float | None = None  # seconds until the next attempt, when one is due


def send_ticket_request(request_id: int, client: TicketClient) -> SendOutcome:
    """One attempt at creating the ticket of a pending request.

    The request is claimed with a conditional update, so a second message for the same request
    (a redelivery, a requeue) finds nothing to do. A transient failure puts it back to pending
    with a backoff, until JIRA_MAX_ATTEMPTS; then, or on a permanent failure, it fails for good
    and a job failure is recorded.
    """
    now = timezone.now()
    claimed = TicketRequest.objects.filter(id=request_id, state=TicketRequest.State.PENDING).update(
        state=TicketRequest.State.SENDING, attempts=F("attempts") + 1, updated_at=now
    )
    if not claimed:
        return SendOutcome("skipped")
    request = TicketRequest.objects.get(id=request_id)
    try:
        key = client.create_issue(request.fields)
    except TicketError as exc:
        error: TicketError = exc
    except Exception as exc:  # noqa: BLE001 - an unexpected client failure: retry, and keep why
        error = TransientTicketError(f"{type(exc).__name__}: {exc}")
    else:
        mark_created(request, key)
        return SendOutcome(TicketRequest.State.CREATED)

    request.history.append(
        {"at": now.isoformat(), "outcome": "error", "status": error.status, "error": str(error)}
    )
    request.last_error = str(error)
    if isinstance(error, PermanentTicketError) or request.attempts >= settings.JIRA_MAX_ATTEMPTS:
        mark_failed(request)
        return SendOutcome(TicketRequest.State.FAILED)
    request.state = TicketRequest.State.PENDING
    request.save(update_fields=["state", "last_error", "history", "updated_at"])
    return SendOutcome(TicketRequest.State.PENDING, retry_in=backoff_seconds(request.attempts))


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with full jitter, capped at JIRA_BACKOFF_MAX (which stays below the
    broker's visibility timeout, so no waiting message is delivered twice)."""
    ceiling = min(settings.JIRA_BACKOFF_MAX, settings.JIRA_BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


@transaction.atomic
def mark_created(request: TicketRequest, jira_key: str) -> None:
    now = timezone.now()
    request.state = TicketRequest.State.CREATED
    request.jira_key = jira_key
    request.sent_at = now
    request.last_error = ""
    request.history.append({"at": now.isoformat(), "outcome": "created", "status": None, "error": ""})
    request.save(update_fields=["state", "jira_key", "sent_at", "last_error", "history", "updated_at"])
    summary = request.fields.get("summary", "")
    record_audit(
        AuditEntry.TICKET_CREATED,
        f"{jira_key}: {summary}",
        environment=request.environment,
        obj=request,
        extra={"jira_key": jira_key, "rule": request.rule_name},
    )
    notify(f"{jira_key} created: {summary}", environment=request.environment, link=request.jira_link)
    bump_daily_stats({(request.environment, request.source, request.rule_name): {"tickets": 1}})


@transaction.atomic
def mark_failed(request: TicketRequest) -> None:
    request.state = TicketRequest.State.FAILED
    request.save(update_fields=["state", "last_error", "history", "updated_at"])
    summary = request.fields.get("summary", "")
    record_job_failure(
        task_name=CREATE_TASK,
        queue=settings.JIRA_CREATE_QUEUE,
        environment=request.environment,
        subject=f"ticket_request:{request.pk}",
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
        extra={"error": request.last_error},
    )
    notify(
        f"Ticket failed: {summary}",
        request.last_error,
        level="error",
        environment=request.environment,
    )
    bump_daily_stats({(request.environment, request.source, request.rule_name): {"failures": 1}})


def stalled_requests(older_than: timedelta) -> list[int]:
    """Pending requests untouched for longer than any backoff: their message was lost (a crash
    between commit and enqueue), so they are due to be sent again."""
    cutoff = timezone.now() - older_than
    return list(
        TicketRequest.objects.filter(state=TicketRequest.State.PENDING, updated_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:1000]
    )
