"""Replaying job failures. A failed ticket request (a dead letter) goes through the ledger and
the budget again, so a ticket that was in fact created is never created twice; a stored batch of
events runs through today's rules again, deduplicated by its events' ids, so no event is recorded
twice and the ledger asks for no ticket twice."""

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from jira_bridge.ledger import State, full_text_url, note_attempt
from jira_bridge.models import TicketRequest
from jira_bridge.tasks import send_requests
from notifications.models import AuditEntry, JobFailure
from notifications.records import audit_entry, record_audits
from pipeline.batches import DATABASE_DOWN, replay_batch
from pipeline.transform import BatchResult
from receivers.registry import default_receiver


@dataclass
class ReplayPlan:
    create: list[int] = field(default_factory=list)  # requests to send again
    check_first: list[int] = field(default_factory=list)  # of those, once unclear: marker looked for first
    exist: list[int] = field(default_factory=list)  # requests whose ticket exists already
    batches: list[int] = field(default_factory=list)  # stored batches to run again
    still_failing: list[int] = field(default_factory=list)  # of those, the hub's fault is still there
    other: list[int] = field(default_factory=list)  # failures with nothing left to replay
    ran: BatchResult | None = None  # what running the batches did (not in a dry run)

    def summary(self) -> str:
        checked = f" ({len(self.check_first)} looked for in Jira first)" if self.check_first else ""
        text = f"{len(self.create)} would be created{checked}, {len(self.exist)} already exist"
        if self.batches:
            text += f", {len(self.batches)} batches run again"
            if self.still_failing:
                text += f" ({len(self.still_failing)} failed again, still waiting)"
            if self.ran is not None:
                text += (
                    f" ({self.ran.events} events recorded, {self.ran.duplicates} already were, "
                    f"{len(self.ran.new_requests)} tickets asked for, {self.ran.rejected} lines bad input)"
                )
        return text + (f", {len(self.other)} not replayable" if self.other else "")

    @property
    def total(self) -> int:
        return len(self.create) + len(self.exist) + len(self.batches) + len(self.other)


def plan_replay(failures: QuerySet[JobFailure]) -> tuple[ReplayPlan, dict[int, TicketRequest]]:
    plan, chosen = ReplayPlan(), {}
    for failure in failures.select_related("ticket_request"):
        request = failure.ticket_request
        if failure.batch_id is not None:
            # Settled already: running it again would record its bad lines twice.
            (plan.batches if failure.state == JobFailure.State.FAILED else plan.other).append(failure.pk)
        elif request is None:
            plan.other.append(failure.pk)
        elif request.state == State.CREATED:
            plan.exist.append(failure.pk)
        elif request.state == State.FAILED:
            plan.create.append(failure.pk)
            chosen[failure.pk] = request
            if was_ambiguous(request):
                plan.check_first.append(failure.pk)
        else:
            plan.exist.append(failure.pk) if request.jira_key else plan.other.append(failure.pk)
    return plan, chosen


def was_ambiguous(request: TicketRequest) -> bool:
    return request.tries.filter(outcome="ambiguous").exists()


@transaction.atomic
def replay(
    failures: QuerySet[JobFailure], *, actor: str, dry_run: bool = False
) -> tuple[ReplayPlan, list[int], list[int]]:
    """Put the failed requests behind ``failures`` back in the ledger (reserved, or ambiguous if
    an attempt ever was, so the marker is looked for before creating) and run the stored batches
    again. Returns the plan, the requests to create and those to update once this commits."""
    failures = failures.select_for_update(of=("self",))
    plan, chosen = plan_replay(failures)
    if dry_run:
        return plan, [], []
    now = timezone.now()
    to_send, audits = [], []
    for failure_id, request in chosen.items():
        ambiguous = failure_id in plan.check_first
        # A request made before the hub fitted fields to Jira's limits is fitted now.
        fitted = default_receiver().refit(request.fields, full_text_url(request.key))
        changed = TicketRequest.objects.filter(pk=request.pk, state=State.FAILED).update(
            state=State.AMBIGUOUS if ambiguous else State.RESERVED,
            ambiguous_since=now if ambiguous else None,
            attempts=0,
            fields=fitted.payload,
            full_description=fitted.full_body or request.full_description,
            next_attempt_at=now,
            updated_at=now,
        )
        if changed:
            note_attempt(request, "replayed", error=f"by {actor}")
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
    ran, to_update = BatchResult(), []
    for failure in JobFailure.objects.filter(pk__in=plan.batches).select_related("batch"):
        try:
            with transaction.atomic():  # a batch failing again undoes its own replay, nothing else
                result = replay_batch(failure.batch)
        except DATABASE_DOWN:
            raise
        except Exception as exc:  # noqa: BLE001 - BatchFailed (the fault is still there), or worse
            plan.still_failing.append(failure.pk)
            failure.attempts.append(
                {"at": now.isoformat(), "status": "failed", "error": f"replay by {actor}: {exc}"}
            )
            JobFailure.objects.filter(pk=failure.pk).update(attempts=failure.attempts, last_error=str(exc))
            continue  # what of it did commit was undone with its savepoint: the next replay redoes it
        ran = ran.add(result)
        failure.attempts.append({"at": now.isoformat(), "status": "replayed", "error": f"by {actor}"})
        JobFailure.objects.filter(pk=failure.pk).update(
            state=JobFailure.State.REPLAYED, attempts=failure.attempts, updated_at=now
        )
        audits.append(
            audit_entry(
                AuditEntry.TICKET_REPLAYED,
                f"batch {failure.batch_id} (failure {failure.pk}) run again: {result.events} events, "
                f"{result.duplicates} already recorded, {len(result.new_requests)} tickets asked for",
                actor=actor,
                environment=failure.environment,
                obj=failure,
            )
        )
    plan.ran = ran if plan.batches else None
    to_send += ran.new_requests
    to_update += ran.joined_requests
    record_audits(audits)
    JobFailure.objects.filter(pk__in=plan.create).update(state=JobFailure.State.REPLAYED, updated_at=now)
    JobFailure.objects.filter(pk__in=plan.exist).update(state=JobFailure.State.RESOLVED, updated_at=now)
    return plan, to_send, to_update


def replay_and_send(failures: QuerySet[JobFailure], *, actor: str, dry_run: bool = False) -> ReplayPlan:
    """Replay job failures (see replay) and, once that has committed, send the requests."""
    with transaction.atomic():
        plan, to_send, to_update = replay(failures, actor=actor, dry_run=dry_run)
        transaction.on_commit(lambda: send_requests(to_send, to_update))
    return plan


def replay_one(failure_id: int, *, actor: str) -> tuple[ReplayPlan, JobFailure]:
    """Replay one job failure (replay_and_send) and return its plan and the failure as it is now.
    Raises JobFailure.DoesNotExist."""
    failure = JobFailure.objects.get(pk=failure_id)
    plan = replay_and_send(JobFailure.objects.filter(pk=failure.pk), actor=actor)
    failure.refresh_from_db()
    return plan, failure
