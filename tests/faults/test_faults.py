"""The fault suite, smaller: each fault on real processes started here (a redis-server of its own,
a PostgreSQL cluster initdb'd in a temporary folder, the hub's worker and beat from the Procfile,
the publisher, the fake Jira and OSS), never the machine's services. ``pytest tests/faults -s``
prints the table; ``python -m bench.faults`` runs the same faults full size. ``-m "not faults"``
leaves them out of a run.

On RabbitMQ (``HUB_TEST_BROKER_URL=amqp://...``) each fault gets a vhost of its own on that
RabbitMQ. The rows whose time is a default lock or lease waiting out (a minute or more each) are
skipped unless ``HUB_FAULTS_SLOW=1``, so that the rest fit in ``make test``; ``python -m
bench.faults`` runs them all."""

import os
from dataclasses import replace

import pytest
from django.conf import settings

from bench.faults import FAULTS, SMALL, FaultRun, Row, run_fault, table
from tests.brokers import is_rabbitmq

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.brokers]  # run again on RabbitMQ by make test
BY_NAME = {fault.name: fault for fault in FAULTS}
BROKER = "rabbitmq" if is_rabbitmq(settings.CELERY_BROKER_URL) else "redis"
slow = pytest.mark.skipif(
    not os.environ.get("HUB_FAULTS_SLOW"),
    reason="waits out a default lock or lease (a minute or more): HUB_FAULTS_SLOW=1, or bench.faults",
)
# On Redis the mid-batch row waits out the visibility timeout: 60 s here (its note says so; the
# hub's 300 s would make that row alone six minutes), then at most 10 s for kombu's next look
# (measured 68 s to recover).
SIZES = replace(SMALL, visibility_timeout=60)
redis_only = pytest.mark.skipif(BROKER != "redis", reason="a fault of Redis as the broker")


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    rows: list[Row] = []
    yield rows
    print("\n" + table(rows, f"{BROKER} (pytest tests/faults, small sizes)"))


@pytest.fixture(scope="module")
def run(tmp_path_factory, rows):
    base = settings.CELERY_BROKER_URL if BROKER == "rabbitmq" else ""
    run = FaultRun(BROKER, SIZES, tmp_path_factory.mktemp("faults"), rabbitmq_url=base)
    yield run
    run.close()


@pytest.fixture
def fault(run, rows):
    def fault(name: str) -> Row:
        row = run_fault(run, BY_NAME[name])
        rows.append(row)
        print("\n" + " | ".join(row.cells()))
        return row

    return fault


def assert_nothing_lost_or_doubled(row: Row) -> None:
    assert row.recovered is not None, f"not recovered: {row.note}"
    assert (row.lost, row.duplicates, row.events_lost) == (0, 0, 0), row


def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(fault):
    # Given a worker inside a batch's transaction, When it is SIGKILLed and another starts,
    # Then the batch comes back: every event recorded, every ticket made once
    row = fault("worker-kill-batch")
    assert "inside the batch's transaction" in row.note, "the kill missed the batch: nothing was tested"
    assert_nothing_lost_or_doubled(row)


@slow
@pytest.mark.timeout(600)
def test_a_worker_killed_mid_create_leaves_every_ticket_once_with_default_timings(fault):
    # Given the hub's default Jira timings and a create Jira made but never answered,
    # When the worker is SIGKILLed and another starts (beat running),
    # Then the request is found by its marker, not made twice, and every other ticket exists once
    row = fault("worker-kill-create")
    assert_nothing_lost_or_doubled(row)


@redis_only
# everysec and always lose the same after a process crash (the kernel had the writes): everysec,
# a minute more, only with HUB_FAULTS_SLOW=1 (python -m bench.faults runs both).
@pytest.mark.parametrize("persistence", [pytest.param("everysec", marks=slow), "always"])
def test_redis_restarted_with_an_append_only_file_loses_nothing(fault, persistence):
    # Given batches waiting in Redis, When redis-server is SIGKILLed and started on its files,
    # Then every event and ticket arrives once (a process crash: the kernel still had the writes)
    row = fault(f"redis-restart-{persistence}")
    assert_nothing_lost_or_doubled(row)


@redis_only
def test_redis_restarted_without_an_append_only_file_loses_only_what_it_held(fault):
    # Given batches waiting in a Redis that writes nothing to disk, When it is restarted,
    # Then what it held is lost (the row records how much), but nothing is made twice, and no
    # ticket is missing but those of lost events (the ledger sends again what it asked for)
    row = fault("redis-restart-none")
    assert row.duplicates == 0, row
    assert row.lost <= row.events_lost, f"tickets lost for events the hub had recorded: {row}"
    assert row.events_lost > 0 or row.note.startswith("0 messages"), f"Redis held batches, none lost? {row}"


@pytest.mark.skipif(BROKER != "rabbitmq", reason="a fault of RabbitMQ as the broker")
def test_rabbitmq_crashed_and_restarted_loses_and_doubles_nothing(fault):
    # Given batches waiting in a RabbitMQ node of the run's own, a worker under way through them,
    # When the node is SIGKILLed and started again on its data,
    # Then every confirmed batch is still there: every event recorded, every ticket made once
    row = fault("broker-restart")
    assert not row.note.startswith("0 messages"), f"nothing was held at the restart: {row}"
    assert_nothing_lost_or_doubled(row)


def test_postgresql_restarted_under_a_batch_loses_and_doubles_nothing(fault):
    # Given a batch inside its transaction, When PostgreSQL is stopped (immediate) and started,
    # Then the batch is tried again: every event recorded, every ticket made once
    assert_nothing_lost_or_doubled(fault("postgres-restart"))


def test_the_publisher_cut_off_from_the_broker_spools_and_loses_nothing(fault):
    # Given lines arriving while the publisher cannot reach the broker,
    # When the broker is reachable again, Then the spool drains: every event and ticket once
    row = fault("broker-unreachable")
    assert "spooled: yes" in row.note, "the publisher never noticed the outage: nothing was tested"
    assert_nothing_lost_or_doubled(row)


@slow
def test_a_worker_killed_mid_oss_check_leaves_every_change_once(fault):
    # Given a check half-way through a listing (its first changes already sent),
    # When its worker is SIGKILLed, Then the next check after the lock (60 s) finds the rest, once
    assert_nothing_lost_or_doubled(fault("worker-kill-oss"))


def test_a_beat_stopped_ten_minutes_sends_one_catch_up_run_per_schedule(fault):
    # Given beat's schedules last run ten minutes ago (beat stopped that long),
    # When beat starts again, Then each schedule is sent once before its interval has passed
    row = fault("beat-stopped")
    assert row.tickets_expected >= 2, f"the hub's own schedules were not found: {row}"
    assert (row.created, row.duplicates, row.lost) == (row.tickets_expected, 0, 0), row


@slow
@pytest.mark.timeout(600)
def test_of_two_beats_only_the_leader_sends_and_the_other_takes_over_after_its_sigkill(fault):
    # Given two beats, one leading, When the leader is SIGKILLed,
    # Then the other had sent nothing before, sends after (the lock expired), and no run is sent twice
    row = fault("two-beats")
    assert "the standby sent 0 before" in row.note, row
    assert row.recovered is not None and row.lost == 0, row
    assert row.duplicates == 0, row


@slow
@pytest.mark.timeout(600)
def test_an_oss_check_slower_than_its_lock_then_killed_is_done_by_the_next_check(fault):
    # Given a check whose listing takes longer than its lock's TTL (every call slow), a second
    # worker up, When the check's worker is SIGKILLed, Then its lock had been kept while it lived,
    # and the next scheduled check records every change once
    row = fault("oss-check-killed")
    assert "lock kept" in row.note, row
    assert_nothing_lost_or_doubled(row)
