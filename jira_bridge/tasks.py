from celery import shared_task
from django.conf import settings
from django.db import transaction

from cdc_publisher.contract import DEAD_LETTER_QUEUE
from hub.redis import hub_redis
from jira_bridge.bridge import Step, claim_update_slot, get_bridge
from jira_bridge.ledger import CREATE_TASK, stalled_requests
from jira_bridge.replay import ReplayPlan, replay
from notifications.models import JobFailure


@shared_task(bind=True, name=CREATE_TASK, max_retries=None)
def create_ticket_task(self, request_id: int) -> str:
    return follow(self, get_bridge().create(request_id), request_id)


@shared_task(bind=True, name="jira_bridge.update_ticket", max_retries=None)
def update_ticket_task(self, request_id: int) -> str:
    return follow(self, get_bridge().update(request_id), request_id)


def follow(task, step: Step, request_id: int) -> str:
    """Schedule what a step asks for. Attempts are counted in the ledger, not by Celery, so a
    retry here is a wait (budget, breaker, backoff), never a lost job."""
    if step.dead_letter:
        replay_dead_letter_task.apply_async(args=[step.dead_letter], queue=DEAD_LETTER_QUEUE)
    if step.follow_up:
        schedule_update(request_id)
    if step.retry_in is not None:
        # Never longer than JIRA_BACKOFF_MAX, which stays below the broker's visibility timeout.
        raise task.retry(countdown=min(step.retry_in, settings.JIRA_BACKOFF_MAX))
    return step.state


@shared_task(name="jira_bridge.replay_dead_letter")
def replay_dead_letter_task(failure_id: int) -> str:
    """The dead letter itself: sits on jira:retry, which no worker consumes by default. Consuming
    it (celery -A hub worker -Q jira:retry) replays it; once replayed another way, it does nothing."""
    return replay_and_send(JobFailure.objects.filter(pk=failure_id), actor="jira:retry").summary()


def schedule_update(request_id: int) -> None:
    """Ask for an update of a ticket, unless one is already waiting."""
    if claim_update_slot(hub_redis(), request_id):
        update_ticket_task.delay(request_id)


def send_requests(new: list[int], joined: list[int]) -> None:
    """After a batch's transaction committed: create the new tickets, update the joined ones. A
    crash in between leaves requests reserved, and jira-requeue-stalled sends them."""
    for request_id in new:
        create_ticket_task.delay(request_id)
    for request_id in joined:
        schedule_update(request_id)


def replay_and_send(failures, *, actor: str, dry_run: bool = False) -> ReplayPlan:
    """Replay dead letters (see replay.replay) and, once that has committed, send the requests."""
    with transaction.atomic():
        plan, to_send = replay(failures, actor=actor, dry_run=dry_run)
        transaction.on_commit(lambda: [create_ticket_task.delay(request_id) for request_id in to_send])
    return plan


def replay_one(failure_id: int, *, actor: str) -> tuple[ReplayPlan, JobFailure]:
    """Replay one dead letter (replay_and_send) and return its plan and the failure as it is now.
    Raises JobFailure.DoesNotExist."""
    failure = JobFailure.objects.get(pk=failure_id)
    plan = replay_and_send(JobFailure.objects.filter(pk=failure.pk), actor=actor)
    failure.refresh_from_db()
    return plan, failure


@shared_task(name="jira_bridge.requeue_stalled")
def requeue_stalled_task() -> int:
    ids = stalled_requests()
    for request_id in ids:
        create_ticket_task.delay(request_id)
    return len(ids)
