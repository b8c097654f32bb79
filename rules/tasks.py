import traceback
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.db import IntegrityError, InterfaceError, OperationalError
from django.utils import timezone

from cdc_publisher.contract import BATCH_TASK
from jira_bridge.tasks import send_requests
from notifications.records import record_job_failure
from rules.transform import BatchResult, process_cdc_batch, without_nul

DATABASE_DOWN = (OperationalError, InterfaceError)
# For every task that takes a batch of events: kept and retried while the database is down.
BATCH_TASK_OPTIONS = {
    "bind": True,
    "autoretry_for": DATABASE_DOWN,
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": None,
}


def run_batch(task, subject: str, process: Callable[[Any], BatchResult], batch: Any) -> dict[str, int]:
    """Process a batch of events and send the ticket requests it made. Anything but the database
    being down would lose the batch: it is kept, whole, as a job failure to replay."""
    try:
        try:
            result = process(batch)
        except IntegrityError:
            # Another worker stored some of these events between our look and our insert (the
            # same batch delivered twice at once): a second pass finds them and drops them.
            result = process(batch)
    except DATABASE_DOWN:
        raise
    except Exception as exc:
        record_job_failure(
            task_name=task.name,
            task_id=task.request.id or "",
            queue=(task.request.delivery_info or {}).get("routing_key") or "",
            environment=batch.get("env", "") if isinstance(batch, dict) else "",
            subject=subject,
            payload={"batch": without_nul(batch)},
            attempts=[{"at": timezone.now().isoformat(), "status": None, "error": repr(exc)}],
            last_error=traceback.format_exc(),
        )
        raise
    send_requests(result.new_requests, result.joined_requests)
    return {
        "events": result.events,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "tickets": len(result.new_requests),
    }


@shared_task(name=BATCH_TASK, **BATCH_TASK_OPTIONS)
def process_cdc_batch_task(self, batch: Any) -> dict[str, int]:
    return run_batch(self, "cdc batch", process_cdc_batch, batch)
