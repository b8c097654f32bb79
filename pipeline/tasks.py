import logging
import random
import re
import traceback
from collections.abc import Callable
from typing import Any

from celery import shared_task
from celery.exceptions import Retry
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cdc_publisher.contract import BATCH_TASK
from cdc_publisher.events import kept_text
from core.broker import broker_countdown
from jira_bridge.tasks import DEAD_LETTER_TASK, send_requests
from notifications import hot
from notifications.fields import exact_json
from notifications.models import ErrorLog, JobFailure
from notifications.records import record_error, record_job_failure
from pipeline.batches import DATABASE_DOWN, BatchFailed, describe, process_lines, store_batch
from pipeline.replay import replay_and_send
from pipeline.transform import BatchResult, Lines, NotABatch, cdc_lines
from rules.matching import load_rule_index

log = logging.getLogger(__name__)

# For every task that takes a batch of events: kept and retried while the database is down.
BATCH_TASK_OPTIONS = {"bind": True, "max_retries": None}
# The longest wait between two tries of a batch while the database is down: a database back from a
# restart has its batches within a minute, and the wait stays far below Redis's visibility timeout.
BATCH_RETRY_MAX = 60
# What RabbitMQ's delayed delivery puts in front of a routing key: the countdown's bits, "0.1.1.".
DELAY_BITS = re.compile(r"^(?:[01]\.)+")


def origin_queue(task) -> str:
    """The queue a batch came from, as its sender named it (a batch task has no route of its own:
    the publisher chooses cdc:<env>). Empty when the task did not come from a broker."""
    return DELAY_BITS.sub("", (task.request.delivery_info or {}).get("routing_key") or "")


def retry_while_database_down(task, exc: Exception) -> Retry:
    """Send the batch again to its own queue after a jittered, doubling wait of 1 to 60 s.

    Named, not left to Celery's autoretry: a retry without a queue is routed to Celery's default
    queue, which no worker of the hub consumes. On Redis that went unseen, because the countdown
    waits in the worker; on RabbitMQ a countdown travels through the delayed-delivery exchanges,
    which route it by the queue the retry names, and the batch was left in `celery`."""
    wait = random.randint(1, min(BATCH_RETRY_MAX, 2 ** min(task.request.retries, 16)))
    return task.retry(exc=exc, countdown=broker_countdown(wait), queue=origin_queue(task) or None)


def run_batch(task, read: Callable[[Any], Lines], batch: Any, source: str) -> dict[str, Any]:
    """Process a batch of events and send the ticket requests it made. A line that cannot be
    processed is isolated (pipeline.batches); what a fault of the hub's (or HUB_BATCH_SECONDS)
    stopped is stored with a job failure to replay. Only the database being down, wherever it is
    met, sends the batch to be tried again."""
    try:
        return process_batch(task, read, batch, source)
    except DATABASE_DOWN as exc:
        raise retry_while_database_down(task, exc) from exc


def process_batch(task, read: Callable[[Any], Lines], batch: Any, source: str) -> dict[str, Any]:
    try:
        lines = read(batch)
    except NotABatch as exc:
        record_not_a_batch(batch, source, str(exc))
        return describe(BatchResult())
    if lines.publisher is not None and not task.request.retries:  # when it first came
        note_publisher(lines.env, lines.publisher)
    try:
        result = process_lines(lines, seconds=settings.HUB_BATCH_SECONDS)
    except DATABASE_DOWN:
        raise
    except Exception as exc:
        committed = exc.committed if isinstance(exc, BatchFailed) else BatchResult()
        send_requests(committed.new_requests, committed.joined_requests)  # what did commit goes on
        keep_failed_batch(task, lines, exc)
        raise
    send_requests(result.new_requests, result.joined_requests)
    return describe(result)


def note_publisher(env: str, status: dict[str, Any]) -> None:
    """The environment's last position, for the hub's status of publishers: best effort, since
    the batch itself is what matters (Redis down: the status waits for the next batch)."""
    try:
        hot.publisher_seen(env, status)
    except Exception:  # noqa: BLE001 - see docstring
        log.warning("could not note the %s publisher's position", env, exc_info=True)


def record_not_a_batch(batch: Any, source: str, problem: str) -> None:
    """A payload that is not a batch, as bad input: its head, redacted by key names where it is
    JSON (its lines, never parsed, cannot be: so it is for operators' eyes only)."""
    try:
        text = exact_json(load_rule_index(source)[0].redactor.anything(batch))
    except Exception:  # noqa: BLE001 - not even JSON: its repr
        text = repr(batch)
    record_error(
        ErrorLog.Kind.BAD_INPUT,
        f"not a {source} batch: {problem}",
        source=source,
        environment=str(batch.get("env", ""))[:32] if isinstance(batch, dict) else "",
        where=f"{source} batch",
        raw=kept_text(text),
        raw_redacted=False,
    )


@transaction.atomic
def keep_failed_batch(task, lines: Lines, exc: Exception) -> None:
    stored = store_batch(lines)
    record_job_failure(
        task_name=task.name,
        task_id=task.request.id or "",
        queue=origin_queue(task),
        environment=lines.env,
        batch=stored,
        payload={"events": len(lines.parsed), "rejected": len(lines.errors), "origin": lines.origin},
        attempts=[{"at": timezone.now().isoformat(), "status": None, "error": repr(exc)}],
        last_error="".join(traceback.format_exception(exc)),
    )


@shared_task(name=BATCH_TASK, **BATCH_TASK_OPTIONS)
def process_cdc_batch_task(self, batch: Any) -> dict[str, Any]:
    return run_batch(self, cdc_lines, batch, "cdc")


@shared_task(name=DEAD_LETTER_TASK)
def replay_dead_letter_task(failure_id: int) -> str:
    """The dead letter itself: sits on jira:retry, which no worker consumes by default. Consuming
    it (celery -A hub worker -Q jira:retry) replays it; once replayed another way, it does nothing."""
    return replay_and_send(JobFailure.objects.filter(pk=failure_id), actor="jira:retry").summary()
