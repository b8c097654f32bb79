"""Beat as operators run it (the Procfile's command, a real process): one leader among several
beats, a standby that takes over when the leader is killed, and one catch-up run per schedule
after a pause. What beat sends is read from the broker: the probe schedules below go to queues
no worker consumes, so every message stays there to be counted."""

import datetime as dt
import os
import signal
import time

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from hub.beat import LEADER_KEY
from tests.cdc_publisher.test_spool import Broker
from tests.conftest import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOCK_SECONDS = 3  # the leader lock's TTL in these tests, so that a takeover takes seconds
SENDING = "Sending due task {name} "  # celery.beat logs this line for each message it sends


def probe(name: str, every: int, last_run_ago: dt.timedelta | None = None) -> PeriodicTask:
    """A schedule sending a task nobody runs to a queue of the same name, nobody's either."""
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(
        name=name,
        task="tests.beat_probe",
        interval=interval,
        queue=name,
        last_run_at=timezone.now() - last_run_ago if last_run_ago else None,
    )


def two_beats(start_process, minute_due_in: int):
    """A schedule every second, one every minute next due in ``minute_due_in`` seconds, and two
    beats started one after the other: the leader, then the standby."""
    probe("beat-probe", every=1)
    probe("beat-minute", every=60, last_run_ago=dt.timedelta(seconds=60 - minute_due_in))
    env = {"HUB_BEAT_LOCK_SECONDS": str(LOCK_SECONDS)}
    return start_process("beat", "took the leader lock", **env), start_process("beat", "standing by", **env)


def sent(beat, name: str) -> int:
    return beat.log.read_text().count(SENDING.format(name=name))


def test_a_second_beat_stands_by_and_takes_over_when_the_leader_is_killed(broker, start_process):
    # Given a schedule every second, one every minute next due in 20 s, and two beats started one
    # after the other (both read the schedule before the minute's run is sent)
    leader, standby = two_beats(start_process, minute_due_in=20)
    assert broker.llen("beat-minute") == 0, "the beats took over 20 s to start: the standby read late"

    # Then, while both run, only the leader sends, and the standby said why once
    wait_for(lambda: broker.llen("beat-minute") == 1, timeout=30, message="the minute's run")
    wait_for(lambda: sent(leader, "beat-probe") >= 5, timeout=30, message="five sends by the leader")
    queued = broker.llen("beat-probe")
    assert sent(standby, "beat-probe") == 0, "the standby sent a schedule beside the leader"
    assert 5 <= queued <= sent(leader, "beat-probe"), "messages in the queue the leader did not send"
    standby_log = standby.log.read_text()
    assert standby_log.count("standing by") == 1, standby_log
    assert f":{leader.pid}:" in standby_log, "the standby names the leader (host:pid)"

    # When the leader is killed (SIGKILL: no clean stop, the lock is left to expire)
    os.kill(leader.pid, signal.SIGKILL)
    leader.wait()
    killed_at, before = time.monotonic(), broker.llen("beat-probe")

    # Then the standby takes the lock within about one TTL and sends from then on
    wait_for(lambda: "took the leader lock" in standby.log.read_text(), timeout=LOCK_SECONDS + 20,
             message="the standby taking over")  # fmt: skip
    print(f"\nBEAT | standby took over {time.monotonic() - killed_at:.1f} s after the leader's SIGKILL "
          f"(lock TTL {LOCK_SECONDS} s)")  # fmt: skip
    wait_for(lambda: broker.llen("beat-probe") >= before + 3, timeout=30, message="sends after takeover")
    assert sent(standby, "beat-probe") >= 3
    minute_sends = [  # who sent the minute's run, and when: what a failure here needs to be read
        line
        for beat in (leader, standby)
        for line in beat.log.read_text().splitlines()
        if "beat-minute" in line
    ]
    assert broker.llen("beat-minute") == 1, (
        f"the new leader sent again a run the old one had sent: {minute_sends}"
    )
    assert broker.get(LEADER_KEY).decode().split(":")[1] == str(standby.pid), "the lock names the new leader"


def test_a_leader_killed_as_it_sends_a_run_leaves_that_run_sent_at_most_once(broker, start_process):
    # Given two beats and a schedule every minute next due a few seconds after they start
    leader, standby = two_beats(start_process, minute_due_in=12)

    # When the leader is SIGKILLed the moment it says it sends the minute's run (celery logs it
    # just before the send; celery itself writes the run's time only after the send)
    wait_for(lambda: SENDING.format(name="beat-minute") in leader.log.read_text(), timeout=40,
             interval=0.001, message="the leader sending the minute's run")  # fmt: skip
    os.kill(leader.pid, signal.SIGKILL)
    leader.wait()

    # Then the standby takes over and sends on, and the minute's run is in the queue at most once:
    # the run's time was written before it went, so the new leader does not send it again
    wait_for(lambda: "took the leader lock" in standby.log.read_text(), timeout=LOCK_SECONDS + 20,
             message="the standby taking over")  # fmt: skip
    wait_for(lambda: sent(standby, "beat-probe") >= 3, timeout=30, message="sends after takeover")
    assert sent(standby, "beat-minute") == 0, "the new leader sent the minute's run the old one had begun"
    assert broker.llen("beat-minute") <= 1


def test_a_beat_stopped_for_ten_minutes_sends_one_catch_up_run_per_schedule(broker, start_process):
    # Given a schedule every minute whose last run was ten minutes ago (beat was stopped), and one
    # not due until three seconds after beat starts
    probe("beat-probe", every=60, last_run_ago=dt.timedelta(minutes=10))
    probe("beat-later", every=3600, last_run_ago=dt.timedelta(seconds=3600 - 3))
    started_at = timezone.now()

    # When beat starts again
    beat = start_process("beat", "took the leader lock")

    # Then once the later schedule is sent, beat has passed every run it missed: it sent one
    wait_for(lambda: broker.llen("beat-later") == 1, timeout=30, message="the later schedule sent")
    assert broker.llen("beat-probe") == 1, "ten missed runs are one catch-up run, not a burst"
    assert PeriodicTask.objects.get(name="beat-probe").last_run_at >= started_at, (
        "last_run_at is written as soon as the run is sent (a beat taking over reads it)"
    )

    # and a beat stopped on purpose hands its lock over at once instead of after its TTL
    beat.send_signal(signal.SIGTERM)
    beat.wait(timeout=30)
    assert not broker.exists(LEADER_KEY), "the stopped beat still holds the leader lock"


def test_while_redis_is_unreachable_no_beat_sends_and_the_leader_goes_on_when_it_answers(start_process):
    # Given a beat whose Redis (the leader lock's, here also its broker) is a redis-server of the
    # test's own, sending a schedule every second
    redis_server = Broker(free_port())
    redis_server.start()
    try:
        probe("beat-probe", every=1)
        env = {"HUB_TEST_REDIS_URL": redis_server.url, "HUB_BEAT_LOCK_SECONDS": str(LOCK_SECONDS)}
        beat = start_process("beat", "took the leader lock", **env)
        wait_for(lambda: sent(beat, "beat-probe") >= 2, timeout=30, message="sends before the outage")

        # When Redis stops for a few seconds, then starts again (empty: no persistence)
        redis_server.stop()
        wait_for(lambda: "cannot reach Redis for the leader lock" in beat.log.read_text(), timeout=30,
                 message="beat noticing the outage")  # fmt: skip
        time.sleep(3)  # the outage: three runs of the schedule fall due in it
        assert beat.poll() is None, "beat died with Redis"
        redis_server.start()

        # Then beat sent nothing while it could not prove it leads, says so once, and sends again
        wait_for(lambda: beat.log.read_text().count("took the leader lock") == 2, timeout=30,
                 message="beat taking the lock again")  # fmt: skip
        log = beat.log.read_text()
        outage = log[log.index("cannot reach Redis") : log.rindex("took the leader lock")]
        assert SENDING.format(name="beat-probe") not in outage, f"sent without the lock:\n{outage}"
        assert log.count("cannot reach Redis") == 1, log
        before = sent(beat, "beat-probe")
        wait_for(lambda: sent(beat, "beat-probe") >= before + 2, timeout=30, message="sends after the outage")
        assert redis_server.client.llen("beat-probe") >= 2, "the sends after the outage reached the broker"
    finally:
        if redis_server.proc.poll() is None:
            redis_server.stop()
