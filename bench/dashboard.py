"""What the dashboard costs the work it watches, against a baseline measured in the same run.

    python -m bench.dashboard [--jobs 5000]

Per Celery job, the worker records it in Redis (start, finish: notifications.jobs) and publishes
it to the live page; every ~2 s one worker builds and publishes a snapshot. Each is timed
in-process and given as a multiple of one Redis PING round trip (the baseline), and as a share of
Celery's own cost per message (~1 ms on this machine, DESIGN.md). Then the API's /api/queues
against /health, through Django's test client.
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from core.health import count_workers, note_worker_alive  # noqa: E402
from core.redis import hub_redis  # noqa: E402
from dashboard.snapshot import snapshot  # noqa: E402
from notifications import jobs  # noqa: E402
from notifications.live import publish  # noqa: E402

CELERY_MS_PER_MESSAGE = 1.0
KEYS = 100_000  # about a day of jobs' metadata at ~1 job/s


class Request:
    delivery_info = {"routing_key": "jira:create"}
    argsrepr = "(1,)"


class Task:
    name = "jira_bridge.create_ticket"
    request = Request()


def per_call(fn, count: int) -> float:
    """Best of three: seconds per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i in range(count):
            fn(i)
        best = min(best, (time.perf_counter() - start) / count)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=5000)
    n = parser.parse_args().jobs
    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0)
    client = hub_redis()
    client.flushdb()

    ping = per_call(lambda i: client.ping(), n)
    task = Task()
    record = per_call(
        lambda i: (jobs.on_start(f"b{i}", task),
                   jobs.hot.job_finished(jobs.describe(f"b{i}", task, (1,), "created", "SUCCESS"))),
        n,
    )  # fmt: skip
    live = per_call(lambda i: publish("job", jobs.describe(f"b{i}", task, (1,), "created", "SUCCESS")), n)
    snap = per_call(lambda i: snapshot(), max(n // 50, 20))

    print(f"Dashboard bookkeeping, {n} jobs, best of 3; baseline: one Redis PING = {ping * 1e3:.3f} ms")
    for name, seconds in (("record a job (start + finish)", record), ("publish it to the live page", live),
                          ("build one snapshot (every ~2 s)", snap)):  # fmt: skip
        print(f"  {name:34} {seconds * 1e3:7.3f} ms  {seconds / ping:6.1f}x PING")
    per_job = record + live
    share = per_job * 1e3 / CELERY_MS_PER_MESSAGE
    print(f"  per job in all: {per_job * 1e3:.3f} ms = {share:.0%} of Celery's ~1 ms per message")

    User.objects.filter(username="bench").delete()
    web = Client(SERVER_NAME="127.0.0.1")
    web.force_login(User.objects.create_user("bench", is_staff=True))
    for url in ("/health", "/api/queues"):
        status = web.get(url).status_code
        assert status in (200, 503), f"{url} answered {status}"
    health = per_call(lambda i: web.get("/health"), 200)
    queues = per_call(lambda i: web.get("/api/queues"), 200)
    print(
        f"  GET /api/queues {queues * 1e3:.2f} ms = {queues / health:.1f}x GET /health "
        f"({health * 1e3:.2f} ms)"
    )

    # Counting workers with a day of job metadata in Redis: their sorted set, against walking the
    # keyspace for one key per worker (what /health and every snapshot did before).
    pipe = client.pipeline(transaction=False)
    for i in range(KEYS):
        pipe.set(f"hub:job:bench-{i}", b"{}", ex=3600)
    pipe.execute()
    note_worker_alive("bench@host")
    zset = per_call(lambda i: count_workers(), 200)
    scan = per_call(lambda i: sum(1 for _ in client.scan_iter("hub:workers:*", count=100)), 3)
    print(f"  workers counted among {KEYS:,} keys: {zset * 1e3:.3f} ms; a keyspace SCAN {scan * 1e3:.1f} ms "
          f"= {scan / zset:,.0f}x")  # fmt: skip
    client.flushdb()


if __name__ == "__main__":
    main()
