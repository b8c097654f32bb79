"""What each Celery job did, kept hot in Redis and shown live: called from the worker's task
signals (hub.celery). Nothing here may fail a task: the job's work is done (or not) already."""

import logging
import sys
import time
from datetime import datetime
from typing import Any

import orjson

from notifications import hot
from notifications.live import publish

log = logging.getLogger(__name__)
_started: dict[str, float] = {}


def queue_of(request) -> str:
    """The queue a task's message came from (its request's routing key)."""
    return (getattr(request, "delivery_info", None) or {}).get("routing_key") or ""


def is_failure(state: str, result: Any) -> bool:
    """A job failed if it did not succeed, or succeeded in giving a ticket up ("failed")."""
    return state != "SUCCESS" or result == "failed"


def on_start(task_id: str, task) -> None:
    _started[task_id] = time.time()
    hot.job_started(task_id, queue_of(task.request), task.name, getattr(task.request, "hostname", None) or "")


def on_retry(request, reason) -> None:
    """A retry with a countdown: scheduled, not active."""
    when = getattr(reason, "when", None)
    if isinstance(when, datetime):
        at = when.timestamp()
    else:
        at = time.time() + float(when or 0)
    hot.job_scheduled(request.id, queue_of(request), at)


def on_finish(task_id: str, task, args: tuple, retval: Any, state: str) -> None:
    if state == "RETRY":
        _started.pop(task_id, None)
        return
    job = describe(task_id, task, args, retval, state)
    hot.job_finished(job)
    publish("job", job)


def describe(task_id: str, task, args: tuple, retval: Any, state: str) -> dict[str, Any]:
    """A finished job as the live page and the API show it: small, whatever the task's input."""
    finished = time.time()
    started = _started.pop(task_id, None)
    failed = is_failure(state, retval)
    batch = args[0] if args and isinstance(args[0], dict) else None
    env = batch.get("env", "") if batch else ""
    queue = queue_of(task.request)
    if not env and queue.startswith("cdc:"):
        env = queue.removeprefix("cdc:")
    return {
        "id": task_id,
        "name": task.name,
        "queue": queue,
        "state": "FAILURE" if failed else state,
        "failed": failed,
        "env": env,
        "arg0": args[0] if args and isinstance(args[0], int) else None,
        "args": short(getattr(task.request, "argsrepr", None) or (None if batch else list(args))),
        "result": None if failed and isinstance(retval, BaseException) else retval,
        "error": repr(retval)[:500] if isinstance(retval, BaseException) else "",
        "started": started,
        "finished": finished,
        "runtime_ms": round((finished - started) * 1000, 1) if started else None,
    }


def short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safely(what: str, call, *args, **kwargs) -> None:
    try:
        call(*args, **kwargs)
    except Exception:  # noqa: BLE001 - the job is done; only its record here is lost
        log.warning("could not record %s in the hot store: %r", what, sys.exc_info()[1])
