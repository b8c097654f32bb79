"""Keeping celery-beat in step with the watched buckets: one periodic task each, sent through
``scheduler:oss-check``, expiring if not picked up within its interval (a slow worker never
finds a pile of stale checks)."""

import json

from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from oss_watch.models import WatchedBucket

CHECK_TASK = "oss_watch.check_bucket"


def schedule_name(watched_id: int) -> str:
    return f"oss-check-{watched_id}"


def sync_schedule(watched: WatchedBucket) -> PeriodicTask:
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=watched.interval, period=IntervalSchedule.SECONDS
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=schedule_name(watched.pk),
        defaults={
            "task": CHECK_TASK,
            "interval": interval,
            "args": json.dumps([watched.pk]),
            "queue": settings.OSS_CHECK_QUEUE,
            "expire_seconds": watched.interval,
            "enabled": watched.enabled,
            "description": f"check {watched}",
        },
    )
    return task


def drop_schedule(watched_id: int) -> None:
    PeriodicTask.objects.filter(name=schedule_name(watched_id)).delete()


def on_save(sender, instance: WatchedBucket, **kwargs) -> None:
    sync_schedule(instance)


def on_delete(sender, instance: WatchedBucket, **kwargs) -> None:
    drop_schedule(instance.pk)
