import traceback
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from cdc_publisher.contract import BATCH_TASK
from jira_bridge.tasks import create_ticket_task, schedule_update
from notifications.records import record_job_failure
from rules.transform import process_cdc_batch, without_nul

DATABASE_DOWN = (OperationalError, InterfaceError)


@shared_task(
    bind=True,
    name=BATCH_TASK,
    autoretry_for=DATABASE_DOWN,  # kept and retried until the database is back
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=None,
)
def process_cdc_batch_task(self, batch: Any) -> dict[str, int]:
    try:
        result = process_cdc_batch(batch)
    except DATABASE_DOWN:
        raise
    except Exception as exc:
        # Anything else would lose the batch: keep it, whole, as a job failure to replay.
        record_job_failure(
            task_name=BATCH_TASK,
            task_id=self.request.id or "",
            queue=(self.request.delivery_info or {}).get("routing_key") or "",
            environment=batch.get("env", "") if isinstance(batch, dict) else "",
            subject="cdc batch",
            payload={"batch": without_nul(batch)},
            attempts=[{"at": timezone.now().isoformat(), "status": None, "error": repr(exc)}],
            last_error=traceback.format_exc(),
        )
        raise
    # Sent after the batch's transaction committed; a crash in between leaves the requests
    # pending, and jira-requeue-stalled sends them.
    for request_id in result.new_requests:
        create_ticket_task.delay(request_id)
    for request_id in result.joined_requests:
        schedule_update(request_id)
    return {
        "events": result.events,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "tickets": len(result.new_requests),
    }
