"""Replaying dead letters: failed ticket requests sent through the ledger and the budget again,
so a ticket that was in fact created is never created twice."""

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from jira_bridge.ledger import SUBJECT_PREFIX, State, history_entry
from jira_bridge.models import TicketRequest
from notifications.models import AuditEntry, JobFailure
from notifications.records import audit_entry, record_audits


@dataclass
class ReplayPlan:
    create: list[int] = field(default_factory=list)  # requests to send again
    check_first: list[int] = field(default_factory=list)  # of those, once unclear: marker looked for first
    exist: list[int] = field(default_factory=list)  # requests whose ticket exists already
    other: list[int] = field(default_factory=list)  # failures that are not failed ticket requests

    def summary(self) -> str:
        checked = f" ({len(self.check_first)} looked for in Jira first)" if self.check_first else ""
        return f"{len(self.create)} would be created{checked}, {len(self.exist)} already exist" + (
            f", {len(self.other)} not replayable" if self.other else ""
        )


def dead_letters() -> QuerySet[JobFailure]:
    return JobFailure.objects.filter(state=JobFailure.State.FAILED, subject__startswith=SUBJECT_PREFIX)


def plan_replay(failures: QuerySet[JobFailure]) -> tuple[ReplayPlan, dict[int, TicketRequest]]:
    by_failure = {
        f.pk: int(f.subject.removeprefix(SUBJECT_PREFIX))
        for f in failures
        if f.subject.startswith(SUBJECT_PREFIX)
    }
    requests = TicketRequest.objects.in_bulk(set(by_failure.values()))
    plan = ReplayPlan(other=[f.pk for f in failures if f.pk not in by_failure])
    chosen: dict[int, TicketRequest] = {}
    for failure_id, request_id in by_failure.items():
        request = requests.get(request_id)
        if request is None:
            plan.other.append(failure_id)
        elif request.state == State.CREATED:
            plan.exist.append(failure_id)
        elif request.state == State.FAILED:
            plan.create.append(failure_id)
            chosen[failure_id] = request
            if was_ambiguous(request):
                plan.check_first.append(failure_id)
        else:
            plan.exist.append(failure_id) if request.jira_key else plan.other.append(failure_id)
    return plan, chosen


def was_ambiguous(request: TicketRequest) -> bool:
    return any(h["outcome"] == "ambiguous" for h in request.history)


@transaction.atomic
def replay(
    failures: QuerySet[JobFailure], *, actor: str, dry_run: bool = False
) -> tuple[ReplayPlan, list[int]]:
    """Put the failed requests behind ``failures`` back in the ledger: reserved, or ambiguous if
    an attempt ever was (so the marker is looked for before creating). Returns the plan and the
    ids of the requests to send (after this transaction commits)."""
    failures = failures.select_for_update()
    plan, chosen = plan_replay(failures)
    if dry_run:
        return plan, []
    now = timezone.now()
    to_send, audits = [], []
    for failure_id, request in chosen.items():
        ambiguous = failure_id in plan.check_first
        request.history.append(history_entry("replayed", error=f"by {actor}"))
        changed = TicketRequest.objects.filter(pk=request.pk, state=State.FAILED).update(
            state=State.AMBIGUOUS if ambiguous else State.RESERVED,
            ambiguous_since=now if ambiguous else None,
            attempts=0,
            history=request.history,
            updated_at=now,
        )
        if changed:
            to_send.append(request.pk)
            audits.append(
                audit_entry(
                    AuditEntry.TICKET_REPLAYED,
                    f"dead letter {failure_id} replayed: {request.summary}",
                    actor=actor,
                    environment=request.environment,
                    obj=request,
                )
            )
    record_audits(audits)
    JobFailure.objects.filter(pk__in=plan.create).update(state=JobFailure.State.REPLAYED, updated_at=now)
    JobFailure.objects.filter(pk__in=plan.exist).update(state=JobFailure.State.RESOLVED, updated_at=now)
    return plan, to_send
