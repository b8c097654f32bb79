from typing import Any

from celery import shared_task

from cdc_publisher.contract import BATCH_TASK
from jira_bridge.tasks import create_ticket_task
from rules.transform import process_cdc_batch


@shared_task(name=BATCH_TASK)
def process_cdc_batch_task(batch: Any) -> dict[str, int]:
    result = process_cdc_batch(batch)
    # Sent after the batch's transaction committed; a crash in between leaves the requests
    # pending, and jira-requeue-stalled sends them.
    for request_id in result.new_requests:
        create_ticket_task.delay(request_id)
    return {"events": result.events, "rejected": result.rejected, "tickets": len(result.new_requests)}
