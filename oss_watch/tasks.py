import logging

from celery import shared_task

from notifications.models import ErrorLog, Source
from notifications.records import record_error
from oss_watch.check import CheckResult, check_bucket, record_check
from oss_watch.events import oss_batch, oss_lines
from oss_watch.listing import ListingError, lister_for
from oss_watch.lock import CheckLock, LockLost
from oss_watch.models import WatchedBucket
from oss_watch.schedule import CHECK_TASK
from pipeline.tasks import BATCH_TASK_OPTIONS, run_batch

EVENTS_TASK = "oss_watch.process_events"

logger = logging.getLogger(__name__)


@shared_task(name=CHECK_TASK)
def check_bucket_task(watched_id: int) -> str:
    """One check; never two of one bucket at once (a Redis lock this check keeps renewing), and a
    failure is recorded, not raised: the next scheduled check tries again."""
    watched = WatchedBucket.objects.filter(pk=watched_id, enabled=True).first()
    if watched is None:
        return "not watched"
    lock = CheckLock(watched_id)
    if not lock.acquire():
        return "skipped: a check of this bucket is running"
    try:
        origin = f"oss check of {watched}"

        def emit(changes: list[dict]) -> None:
            batch = oss_batch(watched.environment, watched.bucket, origin, changes)
            process_oss_events_task.apply_async(
                args=[batch], argsrepr=f"[{len(changes)} changes in {watched}]"
            )

        try:
            result = check_bucket(watched, lister_for(watched), emit, lock.hold)
        except ListingError as exc:  # could not even start (credentials missing, bad endpoint)
            result = record_check(watched, CheckResult(error=str(exc)))
        except LockLost as exc:  # another check may own the bucket: it records the watch, not this one
            logger.warning("check of %s stopped: %s", watched, exc)
            record_error(ErrorLog.Kind.OSS, f"check of {watched} stopped, nothing more written: {exc}",
                         source=Source.OSS, environment=watched.environment, where=str(watched))  # fmt: skip
            return f"stopped: {exc}"
        if result.error:
            record_error(ErrorLog.Kind.OSS, f"check of {watched} failed: {result.error}", source=Source.OSS,
                         environment=watched.environment, where=str(watched))  # fmt: skip
            return f"failed: {result.error}"
        if result.quiet:
            return f"baseline: {result.listed} objects recorded, no events"
        return (
            f"{result.listed} listed, {result.created} created, "
            f"{result.modified} modified, {result.deleted} deleted"
        )
    finally:
        lock.release()


@shared_task(name=EVENTS_TASK, **BATCH_TASK_OPTIONS)
def process_oss_events_task(self, batch: dict) -> dict[str, int]:
    return run_batch(self, oss_lines, batch, Source.OSS)
