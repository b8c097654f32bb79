import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.heartbeat_sent.connect
def announce(sender=None, **kwargs) -> None:
    """Tell /health this worker is alive (with --events, every 2 seconds)."""
    from hub.health import note_worker_alive

    try:
        note_worker_alive(getattr(getattr(sender, "eventer", None), "hostname", None))
    except Exception:  # noqa: BLE001 - a missed heartbeat must never stop a worker
        pass
