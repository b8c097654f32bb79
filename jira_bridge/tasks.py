from datetime import timedelta

from celery import shared_task
from django.conf import settings

from jira_bridge.client import get_ticket_client
from jira_bridge.tickets import CREATE_TASK, send_ticket_request, stalled_requests


@shared_task(bind=True, name=CREATE_TASK, max_retries=None)
def create_ticket_task(self, request_id: int) -> str:
    outcome = send_ticket_request(request_id, get_ticket_client())
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.state


@shared_task(name="jira_bridge.requeue_stalled")
def requeue_stalled_task() -> int:
    ids = stalled_requests(timedelta(seconds=settings.JIRA_BACKOFF_MAX * 2))
    for request_id in ids:
        create_ticket_task.delay(request_id)
    return len(ids)
