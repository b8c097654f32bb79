"""The hot store in Redis: capped recent jobs, metadata with a TTL, counters per minute and hour,
queue depths."""

import datetime as dt
import time

import orjson
import pytest
from django.conf import settings

from notifications import hot
from notifications.records import bump_daily_stats

pytestmark = pytest.mark.django_db


def finished(i: int, failed: bool = False, queue: str = "cdc:prod") -> dict:
    return {"id": f"t{i}", "name": "x", "queue": queue, "failed": failed, "finished": 1000.0 + i}


def test_completed_and_failed_jobs_are_capped_per_queue_newest_first(broker):
    for i in range(hot.RECENT_COMPLETED + 5):
        hot.job_finished(finished(i))
    for i in range(hot.RECENT_FAILED + 5):
        hot.job_finished(finished(10_000 + i, failed=True))

    assert broker.llen("hub:jobs:cdc:prod:completed") == hot.RECENT_COMPLETED
    assert broker.llen("hub:jobs:cdc:prod:failed") == hot.RECENT_FAILED
    newest = hot.recent_jobs("cdc:prod", "completed", limit=3)
    assert [j["id"] for j in newest] == ["t104", "t103", "t102"], "newest first, oldest dropped"
    assert hot.recent_jobs("cdc:prod", "failed", limit=1)[0]["id"] == "t11004"


def test_a_jobs_metadata_expires_after_the_hot_retention(broker, settings):
    settings.HUB_HOT_RETENTION_HOURS = 24
    hot.job_finished(finished(1))
    assert hot.job("t1")["queue"] == "cdc:prod"
    ttl = broker.ttl("hub:job:t1")
    assert 24 * 3600 - 5 < ttl <= 24 * 3600, f"TTL {ttl}"


def test_recent_jobs_merge_queues_by_finish_time(broker):
    hot.job_finished(finished(1, queue="cdc:dev"))
    hot.job_finished(finished(3, queue="jira:create"))
    hot.job_finished(finished(2, queue="oss:events", failed=True))
    assert [j["id"] for j in hot.recent_jobs(limit=10)] == ["t3", "t2", "t1"]


def test_daily_statistics_are_also_counted_per_minute_and_hour(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        bump_daily_stats(
            {("prod", "cdc", "r"): {"events": 7, "tickets": 2}, ("prod", "cdc", ""): {"events": 3}}
        )
        bump_daily_stats({("dev", "cdc", ""): {"events": 1}}, day=dt.date.today() - dt.timedelta(days=3))
    minute = hot.per_minute(["prod", "dev"], ["events", "tickets"], minutes=5)
    assert minute["prod"]["events"][-1] == 10 and minute["prod"]["tickets"][-1] == 2
    assert minute["prod"]["events"][:-1] == [0, 0, 0, 0]
    assert minute["dev"]["events"] == [0] * 5, "a count for another day is not this minute's"
    assert sum(hot.per_hour(["prod"], ["events"])["prod"]["events"]) == 10


def test_queue_depth_counts_waiting_active_and_scheduled_and_forgets_stale_entries(broker):
    broker.rpush("cdc:prod", "m1", "m2")
    hot.job_started("a1", "cdc:prod", "x")
    hot.job_scheduled("s1", "jira:create", time.time() + 30)
    stale = time.time() - settings.CELERY_VISIBILITY_TIMEOUT - 10
    broker.hset("hub:active:cdc:prod", "dead", f'{{"name": "x", "started": {stale}}}')
    broker.zadd("hub:scheduled:jira:create", {"lost": stale})

    depths = {q["name"]: q for q in hot.queue_depths()}
    assert depths["cdc:prod"] == {
        "name": "cdc:prod", "waiting": 2, "active": 1, "scheduled": 0, "held": 0, "held_since": None
    }  # fmt: skip
    assert depths["jira:create"]["scheduled"] == 1, "a retry lost with its worker is not counted"
    assert not broker.hexists("hub:active:cdc:prod", "dead")


def test_hourly_counters_live_as_long_as_the_hot_retention(
    broker, settings, django_capture_on_commit_callbacks
):
    settings.HUB_HOT_RETENTION_HOURS = 48
    with django_capture_on_commit_callbacks(execute=True):
        bump_daily_stats({("prod", "cdc", ""): {"events": 1}})
    (hourly,) = broker.keys("hub:rate:h:prod:*")
    (minute,) = broker.keys("hub:rate:m:prod:*")
    assert 48 * 3600 - 5 < broker.ttl(hourly) <= 48 * 3600
    assert broker.ttl(minute) <= hot.MINUTE_TTL


def test_workers_are_counted_from_heartbeats_and_silent_ones_dropped(broker):
    from core.health import WORKERS_KEY, count_workers, note_worker_alive

    note_worker_alive("w1@host")
    note_worker_alive("w2@host")
    broker.zadd(WORKERS_KEY, {"gone@host": time.time() - settings.HUB_WORKER_TTL - 1})
    assert count_workers() == 2
    assert broker.zscore(WORKERS_KEY, "gone@host") is None, "a silent worker is forgotten"


def test_a_job_whose_worker_stopped_announcing_itself_is_shown_as_held(broker):
    from core.health import WORKERS_KEY, note_worker_alive

    # Given a job running on a live worker and two on a worker silent past HUB_WORKER_TTL
    note_worker_alive("alive@host")
    broker.zadd(WORKERS_KEY, {"killed@host": time.time() - settings.HUB_WORKER_TTL - 1})
    hot.job_started("on-live", "cdc:prod", "rules.process_batch", "alive@host")
    hot.job_started("on-dead-1", "cdc:prod", "rules.process_batch", "killed@host")
    time.sleep(0.01)
    hot.job_started("on-dead-2", "cdc:prod", "rules.process_batch", "killed@host")
    first = orjson.loads(broker.hget("hub:active:cdc:prod", "on-dead-1"))["started"]

    # Then all three are active, two of them held, since the older one started
    prod = next(q for q in hot.queue_depths() if q["name"] == "cdc:prod")
    assert (prod["active"], prod["held"], prod["held_since"]) == (3, 2, first)
