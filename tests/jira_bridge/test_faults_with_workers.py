"""The bridge under faults, end to end: real publisher, real workers (and beat), PostgreSQL,
Redis, the broker (Redis or RabbitMQ: marked ``brokers``), and the real ``jira`` client against
the fake Jira. Each case prints its row of the fault
matrix (run with ``-s`` to see it)."""

import json
import os
import signal

import pytest
from django.conf import settings
from django.core.management import call_command

from jira_bridge.models import TicketRequest
from tests.brokers import depth
from tests.conftest import EXAMPLES, run_publisher, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.brokers, pytest.mark.django_db(transaction=True)]


def refunds(count: int, first: int = 1) -> bytes:
    """Maxwell lines for ``count`` refunds; the example rules make one ticket of each."""
    lines = []
    for order in range(first, first + count):
        event = {
            "database": "shop",
            "table": "orders",
            "type": "update",
            "ts": 1763700000,
            "xid": order,
            "data": {"id": order, "status": "refunded"},
            "old": {"status": "paid"},
        }
        lines.append(json.dumps(event))
    return ("\n".join(lines) + "\n").encode()


def expected(count: int, first: int = 1) -> list[str]:
    return sorted(f"Order {order} refunded in prod" for order in range(first, first + count))


def settled(count: int) -> bool:
    return TicketRequest.objects.filter(state=TicketRequest.State.CREATED).count() >= count


def report(fault: str, fake_jira, tickets: int) -> None:
    created = len(fake_jira.issues)
    duplicates = created - len(set(fake_jira.summaries))
    row = [fault, f"{len(fake_jira.log)} requests", f"{tickets} expected", f"{created} created"]
    print("\nFAULT-MATRIX | " + " | ".join([*row, f"{duplicates} duplicates"]))


FAULTS = {
    "500 x3": lambda jira: jira.fail_next(3, 500),
    "502 x3": lambda jira: jira.fail_next(3, 502),
    "503 x3": lambda jira: jira.fail_next(3, 503),
    "504 x3": lambda jira: jira.fail_next(3, 504),
    "slower than the timeout x2, search lag 0.5 s": lambda jira: (
        jira.slow_next(2, 3.0),
        setattr(jira, "search_lag", 0.5),
    ),
    "connection cut after create x2, search lag 0.5 s": lambda jira: (
        jira.cut_next(2),
        setattr(jira, "search_lag", 0.5),
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_every_ticket_exists_exactly_once_whatever_jira_does(fault, broker, fake_jira, start_worker):
    # Given the example rules, a worker, and Jira misbehaving
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    FAULTS[fault](fake_jira)
    start_worker(HUB_TEST_JIRA_URL=fake_jira.url)

    # When 8 refunds are published
    assert run_publisher("prod", refunds(8)).returncode == 0

    # Then each becomes exactly one ticket
    wait_for(lambda: settled(8), timeout=90, message=f"8 tickets under {fault}")
    report(fault, fake_jira, 8)
    assert fake_jira.summaries == expected(8), "tickets missing or made twice"


def test_a_429_storm_pauses_every_worker_and_nothing_is_sent_inside_a_pause(broker, fake_jira, start_worker):
    # Given two workers and Jira answering 429 with Retry-After: 1 three times
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    fake_jira.fail_next(3, 429, on="create", Retry_After="1")
    start_worker(HUB_TEST_JIRA_URL=fake_jira.url)
    start_worker(HUB_TEST_JIRA_URL=fake_jira.url)

    # When 12 refunds are published
    assert run_publisher("prod", refunds(12)).returncode == 0

    # Then every ticket exists once, and no request reached Jira inside any pause
    wait_for(lambda: settled(12), timeout=90, message="12 tickets after a 429 storm")
    report("429 x3, Retry-After 1 s, two workers", fake_jira, 12)
    assert fake_jira.summaries == expected(12)
    # (a request already on the wire when the 429 was answered, within 50 ms, was not sent inside it)
    pauses = [entry.at for entry in fake_jira.log if entry.status == 429]
    inside = [
        (e.path, round(e.at - t, 3)) for e in fake_jira.log for t in pauses if t + 0.05 < e.at < t + 1.0
    ]
    assert inside == [], f"requests sent inside a pause (path, seconds into it): {inside}"


def test_a_worker_killed_mid_batch_leaves_every_ticket_exactly_once(
    broker, fake_jira, start_worker, start_process
):
    # Given a slow but healthy Jira, beat sending stalled requests again every second, and a worker
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    fake_jira.latency = 0.3
    env = {"HUB_TEST_JIRA_URL": fake_jira.url, "CELERY_VISIBILITY_TIMEOUT": "5", "JIRA_REQUEUE_EVERY": "1"}
    start_process("beat", "beat: Starting", **env)
    worker = start_worker(**env)

    # When 20 refunds are published and the worker is killed (SIGKILL) in the middle of the creates
    assert run_publisher("prod", refunds(20)).returncode == 0
    wait_for(lambda: len(fake_jira.issues) >= 5, message="some tickets before the kill")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    killed_at = len(fake_jira.issues)

    # and a new worker starts
    start_worker(**env)

    # Then every ticket exists exactly once
    wait_for(lambda: settled(20), timeout=120, message="20 tickets after the kill")
    report(f"worker SIGKILLed after {killed_at} creates, restarted", fake_jira, 20)
    assert killed_at < 20, "the kill came too late to test anything"
    assert fake_jira.summaries == expected(20), "tickets missing or made twice"


def test_while_the_breaker_is_open_nothing_is_sent_and_dead_letters_replay_once_jira_is_back(
    broker, fake_jira, start_worker, django_capture_on_commit_callbacks
):
    from notifications.models import AuditEntry, JobFailure

    # Given Jira answering 503 to everything, and a worker
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    fake_jira.fail_next(10_000, 503, on="any")
    start_worker(HUB_TEST_JIRA_URL=fake_jira.url)

    # When 3 refunds are published
    assert run_publisher("prod", refunds(3)).returncode == 0

    # Then each request ends in the dead letter, with every attempt, and a message on jira:retry
    wait_for(lambda: JobFailure.objects.count() == 3, timeout=90, message="3 dead letters")
    for failure in JobFailure.objects.all():
        assert len([a for a in failure.attempts if a["status"] == 503]) >= 2, failure.attempts
    assert depth(settings.CELERY_BROKER_URL, "jira:retry") == 3

    # and the breaker opened, and no request reached Jira while it was open
    changes = list(AuditEntry.objects.filter(action=AuditEntry.BREAKER_CHANGED).order_by("created_at"))
    opened = [c.created_at.timestamp() for c in changes if c.extra["to"] == "open"]
    assert opened, "the breaker never opened"
    inside = [e for e in fake_jira.log for t in opened if t + 0.05 < e.wall < t + 0.95]  # cooldown: 1 s
    assert inside == [], f"{len(inside)} requests sent while the breaker was open"

    # When Jira is back and the dead letters are replayed
    fake_jira.faults.clear()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("replay_dead_letters")

    # Then each ticket is created exactly once
    wait_for(lambda: settled(3), timeout=90, message="3 tickets after the replay")
    report("503 on every call, then replay (breaker, dead letter)", fake_jira, 3)
    assert fake_jira.summaries == expected(3)
