"""Benchmark of the Jira bridge against a local zero-latency fake Jira.

    python -m bench.jira_bridge [--requests 1000] [--rounds 3]

Prints tickets/s for a bare loop of ``jira`` client creates (the baseline), for the bridge
driven in-process (ledger claim, breaker, budget, records), and for the bridge behind one Celery
worker (as deployed), each as a ratio to the baseline measured in the same run; then a 429 storm
against two threads sharing the budget, counting requests sent inside a pause (must be 0).
"""

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from jira import JIRA  # noqa: E402

from jira_bridge.bridge import get_bridge  # noqa: E402
from jira_bridge.ledger import TicketDraft, request_tickets  # noqa: E402
from jira_bridge.models import TicketRequest  # noqa: E402
from receivers.base import Ticket  # noqa: E402
from tests.fakes.jira import FakeJira  # noqa: E402

FIELDS = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "bench", "labels": ["bench"]}
EXTRAS = {"jira": {"project": "OPS", "issue_type": "Task"}}


def fresh_requests(count: int, tag: str) -> list[int]:
    TicketRequest.objects.all().delete()
    drafts = [
        TicketDraft(
            f"{tag}-{i}", None, "bench", "prod", "cdc", Ticket(f"bench {i}", labels=("bench",), extras=EXTRAS)
        )
        for i in range(count)
    ]
    return request_tickets(drafts).created


def bare_loop(fake: FakeJira, count: int) -> float:
    jira = JIRA(server=fake.url, basic_auth=("hub-bot", "test-token"), max_retries=0, timeout=10)
    started = time.perf_counter()
    for i in range(count):
        jira.create_issue(fields={**FIELDS, "summary": f"bare {i}"}, prefetch=False)
    return count / (time.perf_counter() - started)


def bridge_in_process(count: int, tag: str) -> float:
    ids = fresh_requests(count, tag)
    bridge = get_bridge()
    started = time.perf_counter()
    for request_id in ids:
        step = bridge.create(request_id)
        assert step.state == "created", step
    return count / (time.perf_counter() - started)


def bridge_behind_a_worker(fake: FakeJira, count: int, tag: str) -> float:
    from jira_bridge.tasks import create_ticket_task

    ids = fresh_requests(count, tag)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "HUB_BENCH_JIRA_URL": fake.url,
        "PYTHONPATH": str(ROOT),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "hub",
            "worker",
            "--pool",
            "solo",
            "--queues",
            "jira:create",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)  # start-up is not what is measured
        started = time.perf_counter()
        for request_id in ids:
            create_ticket_task.delay(request_id)
        created = TicketRequest.objects.filter(state="created")
        while created.count() < count:
            time.sleep(0.02)
        return count / (time.perf_counter() - started)
    finally:
        worker.terminate()
        worker.wait()


def storm(fake: FakeJira, count: int) -> tuple[int, int, int]:
    """Two threads drive requests while Jira answers every 10th create with 429 (Retry-After 1 s)."""
    ids = fresh_requests(count, "storm")
    fake.log.clear()
    original = fake._create
    calls = iter(range(10**9))

    def sometimes_429(payload):
        if next(calls) % 10 == 9:
            return 429, {"errorMessages": ["rate limited"]}
        return original(payload)

    fake._create = sometimes_429
    fake_headers = fake._route

    def route(method, url, auth, body):
        status, payload, headers, fault = fake_headers(method, url, auth, body)
        return status, payload, ({**headers, "Retry-After": "1"} if status == 429 else headers), fault

    fake._route = route

    def drive(part: list[int]) -> None:
        bridge = get_bridge()
        pending = list(part)
        while pending:
            request_id = pending.pop(0)
            step = bridge.create(request_id)
            if step.retry_in is not None:
                time.sleep(min(step.retry_in, 0.2))
                pending.append(request_id)
        connection.close()

    threads = [threading.Thread(target=drive, args=(ids[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fake._create, fake._route = original, fake_headers
    pauses = [e.at for e in fake.log if e.status == 429]
    inside = [e for e in fake.log for t in pauses if t + 0.05 < e.at < t + 1.0]
    return len(pauses), len(inside), TicketRequest.objects.filter(state="created").count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0)
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    n = args.requests
    with FakeJira() as fake:
        settings.JIRA_URL = fake.url
        bare, inproc, worker = [], [], []
        for round_ in range(args.rounds):  # interleaved, best of each: the machine is shared and noisy
            bare.append(bare_loop(fake, n))
            inproc.append(bridge_in_process(n, f"in-{round_}"))
            worker.append(bridge_behind_a_worker(fake, n, f"w-{round_}"))
        baseline = max(bare)
        print(f"Jira bridge, {n} creates per round, best of {args.rounds} rounds, zero-latency fake Jira")
        print(f"  bare jira client loop (baseline) {baseline:8.0f} tickets/s   1.00x")
        for name, rates in (("bridge, in-process", inproc), ("bridge behind one Celery worker", worker)):
            print(f"  {name:<32} {max(rates):8.0f} tickets/s   {max(rates) / baseline:.2f}x")
        pauses, inside, created = storm(fake, 300)
        storm_line = f"{pauses} x 429, {inside} sent inside a pause, {created} created"
        print(f"  429 storm, 2 threads, 300 requests: {storm_line}")


if __name__ == "__main__":
    main()
