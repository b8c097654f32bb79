import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.heartbeat_sent.connect
def announce(sender=None, **kwargs) -> None:
    """Tell /health this worker is alive (with --events, every 2 seconds), and refresh the live
    page's snapshot if no other worker did just now."""
    from hub.health import note_worker_alive
    from notifications.jobs import publish_snapshot, safely

    safely("heartbeat", note_worker_alive, getattr(getattr(sender, "eventer", None), "hostname", None))
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
    from notifications.jobs import on_finish, safely

    safely("job end", on_finish, task_id, task, args, retval, state)
