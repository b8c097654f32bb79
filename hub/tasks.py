"""Maintenance of the cold records, run by beat on scheduler:maintenance (CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from hub.retention import aggregate_daily_stats, prune


@shared_task(name="notifications.aggregate_daily_stats")
def aggregate_daily_stats_task() -> int:
    return aggregate_daily_stats()


@shared_task(name="notifications.prune")
def prune_task() -> dict[str, int]:
    return prune()
