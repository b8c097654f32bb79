from celery import current_app, shared_task
from django.conf import settings

from cdc_publisher.contract import DEAD_LETTER_QUEUE
from core.broker import broker_countdown
from core.redis import hub_redis
from jira_bridge.bridge import Step, claim_update_slot, get_bridge
from jira_bridge.ledger import CREATE_TASK, schedule_attempt, stalled_requests

DEAD_LETTER_TASK = "jira_bridge.replay_dead_letter"  # the name messages on jira:retry carry


@shared_task(bind=True, name=CREATE_TASK, max_retries=None)
def create_ticket_task(self, request_id: int) -> str:
    return follow(self, get_bridge().create(request_id), request_id, creating=True)


@shared_task(bind=True, name="jira_bridge.update_ticket", max_retries=None)
def update_ticket_task(self, request_id: int) -> str:
    return follow(self, get_bridge().update(request_id), request_id)


def follow(task, step: Step, request_id: int, creating: bool = False) -> str:
    """Schedule what a step asks for. Attempts are counted in the ledger, not by Celery, so a
    retry here is a wait (budget, breaker, backoff), never a lost job. For a create, the ledger
    notes when the retry is due: if its message is lost, jira-requeue-stalled sends another."""
    if step.dead_letter:
        # The dead letter is a message for pipeline.tasks.replay_dead_letter_task, sent by name.
        current_app.send_task(DEAD_LETTER_TASK, args=[step.dead_letter], queue=DEAD_LETTER_QUEUE)
    if step.follow_up:
        schedule_update(request_id)
    if step.retry_in is not None:
        # Never longer than JIRA_BACKOFF_MAX, which stays below Redis's visibility timeout; on
        # RabbitMQ in whole seconds.
        countdown = broker_countdown(min(step.retry_in, settings.JIRA_BACKOFF_MAX))
        if creating:
            schedule_attempt(request_id, countdown)
        raise task.retry(countdown=countdown)
    return step.state


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


@shared_task(name="jira_bridge.requeue_stalled")
def requeue_stalled_task() -> int:
    ids = stalled_requests()
    for request_id in ids:
        create_ticket_task.delay(request_id)
    return len(ids)
