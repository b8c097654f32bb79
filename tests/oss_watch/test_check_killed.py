"""A bucket check killed half-way, with real processes: beat scheduling checks, two workers, the
real ``oss2`` client against the fake OSS, whose second listing call stalls so that the kill
lands inside it, after the check had already sent and written one batch."""

import json
import os
import signal
import time

import pytest
from django.utils import timezone
from django_celery_results.models import TaskResult

from notifications.models import Event
from oss_watch.check import check_bucket
from oss_watch.listing import lister_for
from oss_watch.models import WatchedBucket
from oss_watch.schedule import CHECK_TASK
from oss_watch.tasks import EVENTS_TASK
from tests.conftest import wait_for
from tests.fakes.oss import FakeOSS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOCK_SECONDS = 4  # the check lock's TTL here (60 s by default), so that the test takes seconds
INTERVAL = 2  # seconds between scheduled checks


@pytest.fixture
def oss(monkeypatch):
    monkeypatch.setenv("TEST_OSS_AK", "test-ak")  # read by the workers the test starts
    monkeypatch.setenv("TEST_OSS_SK", "test-secret")
    with FakeOSS() as fake:
        fake.buckets["drop"] = {}
        yield fake


def results(task: str, containing: str = "") -> list[TaskResult]:
    return list(TaskResult.objects.filter(task_name=task, status="SUCCESS", result__contains=containing))


def test_a_check_killed_half_way_is_done_by_the_next_scheduled_one_and_each_change_is_one_event(
    oss, broker, start_worker, start_process
):
    # Given a watched bucket of 2,500 objects (three listing calls), its baseline recorded
    for i in range(2500):
        oss.put("drop", f"in/{i:05d}.csv", "v1")
    watched = WatchedBucket.objects.create(
        environment="prod", endpoint=oss.url, bucket="drop", prefix="in/", interval=INTERVAL,
        access_key_env="TEST_OSS_AK", secret_key_env="TEST_OSS_SK",
    )  # fmt: skip
    check_bucket(watched, lister_for(watched), lambda changes: None)

    # and changes on every page: 600 modified on the first (more than one batch of 500), 10
    # deleted on the second, 10 created on the third
    expected = []
    for i in range(600):
        oss.put("drop", f"in/{i:05d}.csv", "v2")
        expected.append(("modified", f"in/{i:05d}.csv"))
    for i in range(1200, 1210):
        oss.delete("drop", f"in/{i:05d}.csv")
        expected.append(("deleted", f"in/{i:05d}.csv"))
    for i in range(2400, 2410):
        oss.put("drop", f"in/{i:05d}-new.csv", "v1")
        expected.append(("created", f"in/{i:05d}-new.csv"))

    # When a worker's check stalls inside its second listing call, beat scheduling a check every
    # 2 s, and a second worker is up
    held = oss.hold(call=2)
    env = {"OSS_CHECK_LOCK_SECONDS": str(LOCK_SECONDS)}
    first = start_worker(**env)
    start_process("beat", "took the leader lock", **env)
    wait_for(held.is_set, timeout=60, message="the first check reaching its second listing call")
    lock = f"hub:oss:check:{watched.pk}"
    stalled_at, token = time.monotonic(), broker.get(lock)
    start_worker(**env)

    # Then the stalled check keeps its lock past the TTL, since it is alive, and scheduled checks
    # skip the bucket; it had sent one batch of 500 before stalling (the kill lands half-way)
    def skipped_past_the_ttl() -> bool:
        return time.monotonic() - stalled_at > 2 * LOCK_SECONDS and len(results(CHECK_TASK, "skipped")) >= 2

    wait_for(skipped_past_the_ttl, timeout=60, message="checks skipped for twice the lock's TTL")
    assert token and broker.get(lock) == token, "the stalled check lost its lock while alive"
    wait_for(lambda: Event.objects.filter(source="oss").count() == 500, timeout=30, message="the first batch")

    # When the stalled worker is killed (SIGKILL) inside that call
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    killed_at = timezone.now()

    # Then a scheduled check runs once the lock expires, and every change is exactly one event
    done = wait_for(lambda: results(CHECK_TASK, "listed"), timeout=LOCK_SECONDS + INTERVAL + 30,
                    message="a check done after the kill")  # fmt: skip
    after = (done[0].date_done - killed_at).total_seconds()
    print(f"\nOSS-CHECK-KILLED | next check done {after:.1f} s after the SIGKILL (lock TTL "
          f"{LOCK_SECONDS} s, checks every {INTERVAL} s): {done[0].result}")  # fmt: skip
    wait_for(lambda: Event.objects.filter(source="oss").count() >= len(expected), timeout=30,
             message="every change as an event")  # fmt: skip
    events = sorted((e.type, e.payload["key"]) for e in Event.objects.filter(source="oss"))
    assert events == sorted(expected), "changes lost or recorded twice"
    sent = [json.loads(r.result) for r in results(EVENTS_TASK)]
    assert sum(r["duplicates"] for r in sent) == 0, f"changes sent twice: {sent}"
    watched.refresh_from_db()
    assert (watched.last_error, watched.objects_known) == ("", 2500)
