import os
import threading

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def declare_queues(sender=None, **kwargs) -> None:
    """On RabbitMQ, every queue exists before the worker binds them for countdowns (core.broker)."""
    from core.broker import declare_every_queue

    declare_every_queue(app)


_announcing = threading.Event()  # set when the worker stops: its announcements end


@signals.worker_ready.connect
def start_announcing(sender=None, **kwargs) -> None:
    """Tell /health and the live page this worker is alive, every 2 s, even inside a long task."""
    from core.health import keep_announcing

    keep_announcing(sender.hostname, _announcing)


@signals.worker_shutdown.connect
def stop_announcing(sender=None, **kwargs) -> None:
    _announcing.set()


@signals.heartbeat_sent.connect
def announce(sender=None, **kwargs) -> None:
    """Refresh the live page's snapshot (with --events, every 2 s) if no other worker did just now."""
    from dashboard.snapshot import publish_snapshot
    from notifications.jobs import safely

    safely("snapshot", publish_snapshot)


# Every job, kept hot in Redis for the live page and the API (notifications.jobs).
@signals.task_prerun.connect
def job_started(task_id=None, task=None, **kwargs) -> None:
    from notifications.jobs import on_start, safely

    safely("job start", on_start, task_id, task)


@signals.task_retry.connect
def job_retried(request=None, reason=None, **kwargs) -> None:
    from notifications.jobs import on_retry, safely

    safely("job retry", on_retry, request, reason)


@signals.task_postrun.connect
def job_finished(task_id=None, task=None, args=(), retval=None, state=None, **kwargs) -> None:
    from dashboard.snapshot import publish_snapshot
    from notifications.jobs import on_finish, safely

    safely("job end", on_finish, task_id, task, args, retval, state)
    safely("snapshot", publish_snapshot)
