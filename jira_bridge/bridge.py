"""The bridge: moving one ticket request one step, through the breaker and the shared budget.

``Bridge.create`` claims a reserved request and creates its issue, or reconciles an ambiguous one
by looking for its marker; ``Bridge.update`` sets the marker property and comments when more
events joined the ticket. Each returns a Step saying what the caller (a task) does next; nothing
here knows Celery.
"""

import time
from dataclasses import dataclass
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import F, Max, Min
from django.utils import timezone

from core.redis import hub_redis
from jira_bridge.breaker import CLOSED, OPEN, CircuitBreaker
from jira_bridge.ledger import (
    State,
    attempt_bound,
    backoff_seconds,
    creating_lease,
    distinct_events,
    mark_created,
    mark_failed,
    note_attempt,
)
from jira_bridge.models import TicketRequest
from jira_bridge.ratelimit import CREATE, UPDATE, RateBudget
from notifications.models import AuditEntry, ErrorLog, Source
from notifications.records import notify, record_audit, record_error
from receivers.base import AmbiguousError, DeliveryError, PermanentError, Receiver
from receivers.registry import default_receiver


@dataclass
class Step:
    """What to do next for a request."""

    state: str
    retry_in: float | None = None  # run this step again after that many seconds
    follow_up: bool = False  # the ticket exists: set its property, comment on joined events
    dead_letter: int | None = None  # a job failure to put on the dead-letter queue


class Bridge:
    def __init__(self, receiver: Receiver, budget: RateBudget, breaker: CircuitBreaker) -> None:
        self.receiver, self.budget, self.breaker = receiver, budget, breaker
        self.redis = budget.redis

    # --- creating ---------------------------------------------------------------------------

    def create(self, request_id: int) -> Step:
        request = TicketRequest.objects.filter(pk=request_id).first()
        if request is None:
            return Step("missing")
        if request.state == State.CREATING and (
            request.claimed_at is None or request.claimed_at < timezone.now() - creating_lease()
        ):
            request = self.presume_lost(request)
        if request.state == State.AMBIGUOUS:
            return self.reconcile(request)
        if request.state == State.CREATING:
            # Another worker holds it, or held it and died (its message then came back to us):
            # look again when the lease ends, rather than leave it to jira-requeue-stalled.
            ends = request.claimed_at + creating_lease() - timezone.now()
            return Step(State.CREATING, retry_in=max(ends.total_seconds(), 0) + 1)
        if request.state != State.RESERVED:
            return Step(request.state)  # created or failed

        wait = self.wait_turn(CREATE)
        if wait:
            return Step(request.state, retry_in=wait)
        now = timezone.now()
        # The claim: only one worker moves the request out of 'reserved' (and only if nobody
        # else has made an attempt since it was read, so the counts below are exact).
        claimed = TicketRequest.objects.filter(
            pk=request_id, state=State.RESERVED, attempts=request.attempts
        ).update(state=State.CREATING, attempts=F("attempts") + 1, claimed_at=now, updated_at=now)
        if not claimed:
            return Step("skipped")
        request.state, request.attempts, request.claimed_at = State.CREATING, request.attempts + 1, now
        started = time.monotonic()
        try:
            key = self.receiver.deliver(request.fields)
        except DeliveryError as exc:
            return self.after_failed_create(request, exc, since(started))
        except Exception as exc:  # noqa: BLE001 - the request may have gone out: treat as unknown
            unknown = AmbiguousError(f"{type(exc).__name__}: {exc}")
            return self.after_failed_create(request, unknown, since(started))
        self.record_outcome(success=True)
        mark_created(request, key, how="created", duration_ms=since(started))
        return Step(State.CREATED, follow_up=True)

    def after_failed_create(self, request: TicketRequest, exc: DeliveryError, duration_ms: int) -> Step:
        request.last_error = str(exc)
        self.note_failure(exc)
        outcome = (
            "ambiguous"
            if isinstance(exc, AmbiguousError)
            else "permanent"
            if isinstance(exc, PermanentError)
            else "transient"
        )
        note_attempt(request, outcome, exc.status, str(exc), duration_ms)
        if isinstance(exc, AmbiguousError):
            request.state, request.ambiguous_since = State.AMBIGUOUS, timezone.now()
            request.save(update_fields=["state", "ambiguous_since", "last_error", "updated_at"])
            return Step(State.AMBIGUOUS, retry_in=settings.JIRA_RECONCILE_FIRST_LOOK)
        if isinstance(exc, PermanentError):
            return give_up(request)
        if exc.status == 429:
            request.attempts -= 1  # Jira asked us to wait: that was not an attempt
        elif request.attempts >= settings.JIRA_MAX_ATTEMPTS:
            return give_up(request)
        request.state = State.RESERVED
        request.save(update_fields=["state", "attempts", "last_error", "updated_at"])
        return Step(State.RESERVED, retry_in=retry_wait(exc, request.attempts))

    def presume_lost(self, request: TicketRequest) -> TicketRequest:
        """A request left in 'creating' past its lease: the worker died mid-call, so whether
        Jira created the issue is unknown. Search lag runs from the write, so the reconcile
        window starts when the dead worker's call would have ended, not when its loss was seen:
        the lease already spent waiting is not waited again."""
        now = timezone.now()
        last_write = request.claimed_at + attempt_bound() if request.claimed_at else now
        changed = TicketRequest.objects.filter(
            pk=request.pk, state=State.CREATING, updated_at=request.updated_at
        ).update(state=State.AMBIGUOUS, ambiguous_since=min(last_write, now), updated_at=timezone.now())
        if changed:
            note_attempt(request, "ambiguous", error="the attempt never finished (worker lost)")
        request.refresh_from_db()
        return request

    def reconcile(self, request: TicketRequest) -> Step:
        """Look for an ambiguous request's marker in Jira. Found: it was created. Not found: look
        again, with growing gaps, until JIRA_RECONCILE_WINDOW has passed (search lags), then
        create it again."""
        wait = self.wait_turn(CREATE)
        if wait:
            return Step(State.AMBIGUOUS, retry_in=wait)
        started = time.monotonic()
        try:
            key = self.receiver.find(request.key)
        except DeliveryError as exc:
            # Each failed look is an attempt: with Jira down for good the request ends in the
            # dead letter (still ambiguous, so a replay looks for its marker first).
            self.note_failure(exc)
            note_attempt(request, "search-failed", exc.status, str(exc), since(started))
            request.last_error = str(exc)
            if exc.status != 429:
                request.attempts += 1
            if request.attempts >= settings.JIRA_MAX_ATTEMPTS:
                return give_up(request)
            request.save(update_fields=["attempts", "last_error", "updated_at"])
            wait = retry_wait(exc, request.attempts)
            return Step(State.AMBIGUOUS, retry_in=wait)
        self.record_outcome(success=True)
        if key:
            mark_created(request, key, how="found", duration_ms=since(started))
            return Step(State.CREATED, follow_up=True)

        looked = request.tries.filter(outcome="not-found").count()
        note_attempt(request, "not-found", duration_ms=since(started))
        elapsed = (timezone.now() - request.ambiguous_since).total_seconds()
        remaining = settings.JIRA_RECONCILE_WINDOW - elapsed
        if remaining > 0:
            request.save(update_fields=["updated_at"])
            gap = settings.JIRA_RECONCILE_FIRST_LOOK * 2 ** (looked + 1)
            return Step(State.AMBIGUOUS, retry_in=min(remaining, gap, settings.JIRA_BACKOFF_MAX))
        if request.attempts >= settings.JIRA_MAX_ATTEMPTS:
            return give_up(request)
        changed = TicketRequest.objects.filter(pk=request.pk, state=State.AMBIGUOUS).update(
            state=State.RESERVED, ambiguous_since=None, updated_at=timezone.now()
        )
        return Step(State.RESERVED, retry_in=0) if changed else Step("skipped")

    # --- updating ---------------------------------------------------------------------------

    def update(self, request_id: int) -> Step:
        """Follow-ups on a created ticket: the marker property, then a comment for events that
        joined since the last one (at most one per JIRA_COMMENT_INTERVAL)."""
        self.redis.delete(update_slot(request_id))  # joins from now on may schedule another update
        request = TicketRequest.objects.filter(pk=request_id).first()
        if request is None or request.state != State.CREATED:
            return Step(request.state if request else "missing")
        if not request.marked:
            step = self.set_marker_property(request)
            if step:
                return step
        events = distinct_events(request)
        if events <= request.commented_events:
            return Step(State.CREATED)
        if request.last_commented_at:
            due = request.last_commented_at + timedelta(seconds=settings.JIRA_COMMENT_INTERVAL)
            if due > timezone.now():
                if not claim_update_slot(self.redis, request.pk):
                    return Step(State.CREATED)  # another update is already waiting for the interval
                return Step(State.CREATED, retry_in=(due - timezone.now()).total_seconds())
        wait = self.wait_turn(UPDATE)
        if wait:
            return Step(State.CREATED, retry_in=wait)
        now = timezone.now()
        claimed = TicketRequest.objects.filter(
            pk=request.pk, commented_events=request.commented_events
        ).update(commented_events=events, last_commented_at=now)
        if not claimed:
            return Step("skipped")
        try:
            self.receiver.add_note(
                request.jira_key, request.summary, comment_body(request, events, self.receiver)
            )
        except DeliveryError as exc:
            self.note_failure(exc)
            TicketRequest.objects.filter(pk=request.pk, commented_events=events).update(
                commented_events=request.commented_events, last_commented_at=request.last_commented_at
            )
            if isinstance(exc, PermanentError):
                return self.give_up_update(request, "comment", exc)
            return Step(State.CREATED, retry_in=retry_wait(exc, 2))
        self.record_outcome(success=True)
        record_audit(
            AuditEntry.TICKET_COMMENTED,
            f"{request.jira_key}: {events - request.commented_events} more events",
            environment=request.environment,
            obj=request,
        )
        return Step(State.CREATED)

    def set_marker_property(self, request: TicketRequest) -> Step | None:
        wait = self.wait_turn(UPDATE)
        if wait:
            return Step(State.CREATED, retry_in=wait)
        try:
            self.receiver.mark(request.jira_key, request.key, request.rule_name)
        except DeliveryError as exc:
            self.note_failure(exc)
            if isinstance(exc, PermanentError):
                return self.give_up_update(request, "issue property", exc)
            return Step(State.CREATED, retry_in=retry_wait(exc, 2))
        self.record_outcome(success=True)
        TicketRequest.objects.filter(pk=request.pk).update(marked=True)
        return None

    def give_up_update(self, request: TicketRequest, what: str, exc: DeliveryError) -> Step:
        record_error(
            ErrorLog.Kind.JIRA,
            f"could not set the {what} of {request.jira_key}: {exc}",
            source=Source.JIRA,
            environment=request.environment,
            where=f"ticket request {request.pk}",
        )
        if what == "issue property":
            TicketRequest.objects.filter(pk=request.pk).update(marked=True)  # the label still finds it
        return Step(State.CREATED)

    # --- the gate: breaker, then budget --------------------------------------------------------

    def wait_turn(self, kind: str) -> float:
        """0 if a request to Jira may go now, else seconds to wait (breaker open, budget empty
        or paused). Waiting costs no attempt."""
        gate = self.breaker.allow()
        if gate.changed_from:
            record_breaker_change(gate.changed_from, gate.state)
        if not gate.allowed:
            return gate.wait
        return self.budget.take(kind)

    def note_failure(self, exc: DeliveryError) -> None:
        """A 429 pauses the whole budget; other transient and unclear failures count towards
        opening the breaker; permanent ones say nothing about Jira's health."""
        if exc.status == 429:
            self.budget.pause(exc.retry_after or settings.JIRA_DEFAULT_RETRY_AFTER)
        elif not isinstance(exc, PermanentError):
            self.record_outcome(success=False)

    def record_outcome(self, success: bool) -> None:
        previous = self.breaker.record(success)
        if previous:  # a change is always to closed (a success) or to open (a failure)
            record_breaker_change(previous, CLOSED if success else OPEN)


def retry_wait(exc: DeliveryError, attempts: int) -> float:
    """Seconds before trying again: the backoff for this many attempts, or longer if Jira asked."""
    return max(backoff_seconds(attempts), exc.retry_after or 0)


def since(started: float) -> int:
    """Milliseconds since ``started`` (time.monotonic())."""
    return round((time.monotonic() - started) * 1000)


def give_up(request: TicketRequest) -> Step:
    failure = mark_failed(request)
    return Step(State.FAILED, dead_letter=failure.pk) if failure else Step("skipped")


def update_slot(request_id: int) -> str:
    return f"hub:jira:update-pending:{request_id}"


def claim_update_slot(client: redis.Redis, request_id: int) -> bool:
    """At most one update waits per ticket: a burst of batches joining one digest schedules one
    comment, not one per batch. The slot is freed when that update runs."""
    return bool(client.set(update_slot(request_id), 1, nx=True, ex=int(2 * settings.JIRA_BACKOFF_MAX) + 60))


def record_breaker_change(previous: str, state: str) -> None:
    record_audit(
        AuditEntry.BREAKER_CHANGED,
        f"Jira circuit breaker: {previous} -> {state}",
        extra={"from": previous, "to": state},
    )
    if state == "open":
        notify(
            "Jira circuit breaker opened: requests to Jira wait",
            f"{settings.JIRA_BREAKER_THRESHOLD} failures in a row; a probe goes after "
            f"{settings.JIRA_BREAKER_COOLDOWN:g} s.",
            level="warning",
        )


def comment_body(request: TicketRequest, events: int, receiver: Receiver) -> str:
    """The digest: how many events joined, over what time, a sample of their primary keys, and
    where the full list is; the sample is shortened to keep the whole within the receiver's limit."""
    new = events - request.commented_events
    span = request.events.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    recent = request.events.order_by("-id").values_list("payload", flat=True)[:10]
    sample = ", ".join(str(primary_key(payload)) for payload in recent)
    base = settings.HUB_BASE_URL.rstrip("/")
    link = f"{base}/admin/notifications/event/?ticket_requests__id__exact={request.pk}"
    when = (
        f"first {span['first']:%Y-%m-%d %H:%M:%S}, last {span['last']:%Y-%m-%d %H:%M:%S} UTC"
        if span["first"]
        else ""
    )
    head = f"{new} more events joined this ticket (rule {request.rule_name}): {events} in all, {when}.\n"
    head += "Latest primary keys: "
    tail = f"\nAll of them in the hub: {link}"
    limits = receiver.limits
    return head + limits.shorten(sample, limits.text_max - limits.length(head) - limits.length(tail)) + tail


def primary_key(payload: dict) -> object:
    """An event's primary key as Maxwell gives it (output_primary_key), else its data's id."""
    key = payload.get("primary_key")
    if isinstance(key, list):
        return key[0] if len(key) == 1 else tuple(key)
    data = payload.get("data") or {}
    return data.get("id", "?")


def get_bridge(receiver: Receiver | None = None) -> Bridge:
    """The bridge to ``receiver`` (the default one unless named), with its own budget and breaker
    in Redis: a receiver that is down pauses no other."""
    receiver = receiver or default_receiver()
    client, prefix = hub_redis(), f"hub:receiver:{receiver.name}"
    return Bridge(
        receiver,
        RateBudget(
            client,
            rate=settings.JIRA_RATE,
            burst=settings.JIRA_BURST,
            reserve=settings.JIRA_UPDATE_RESERVE,
            prefix=f"{prefix}:budget",
        ),
        CircuitBreaker(
            client,
            threshold=settings.JIRA_BREAKER_THRESHOLD,
            cooldown=settings.JIRA_BREAKER_COOLDOWN,
            probe_lease=settings.JIRA_TIMEOUT + 5,
            key=f"{prefix}:breaker",
        ),
    )
