"""Benchmarks of the CDC path, each against a baseline measured in the same run.

    python -m bench.cdc [--lines 200000] [--events 50000] [--burst 100000]

1. Publisher ingest: a Maxwell file on stdin to messages in Redis, lines/s, against one redis-py
   client doing pipelined LPUSH of the same lines (target >= 0.35x), and against a naive
   publisher doing one apply_async per line (target >= 25x); the publisher's peak RSS at 100k
   and at 1M lines (growth target <= 20 MB).
2. Transform: events/s from the queue to tickets requested, audit written, with 50 rules, against
   the same worker draining one no-op task per event (target >= 10x).
3. A bulk UPDATE of --burst rows under a grouped rule: tickets made (target: 1) and time to drain.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from celery import Celery  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db.models import Sum  # noqa: E402

from jira_bridge.models import TicketRequest  # noqa: E402
from notifications.models import AuditEntry, DailyStat, ErrorLog, Event  # noqa: E402
from receivers.outbox.models import OutboxTicket  # noqa: E402
from rules.importing import import_rules  # noqa: E402

ENV = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "PYTHONPATH": str(ROOT)}


def maxwell_file(path: Path, count: int, table: str = "orders", start: int = 0) -> Path:
    if not path.exists():
        with path.open("w") as f:
            for i in range(start, start + count):
                event = {"database": "shop", "table": table, "type": "update", "ts": 1763700000 + i // 1000,
                         "xid": i, "xoffset": 0, "position": f"mysql-bin.000001:{i}", "primary_key": [i],
                         "data": {"id": i, "status": "paid" if i % 1000 else "refunded", "total": i % 997},
                         "old": {"status": "new"}}  # fmt: skip
                f.write(json.dumps(event, separators=(",", ":")) + "\n")
    return path


def reset(client: redis.Redis) -> None:
    client.flushdb()
    for model in (TicketRequest, OutboxTicket, Event, ErrorLog, AuditEntry, DailyStat):
        model.objects.all().delete()


# Runs the publisher from a small interpreter and prints its peak RSS: measured from this big
# process, ru_maxrss would count the memory the child was forked with.
MEASURED = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "cdc_publisher", "--env", "prod"])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def publish(path: Path, spool: Path) -> tuple[float, float]:
    """Pipe a file into the publisher: seconds until it exited (all sent), and its peak RSS (MB)."""
    env = {**ENV, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "CDC_SPOOL_DIR": str(spool)}
    started = time.perf_counter()
    with path.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-c", MEASURED], stdin=stdin, env=env, capture_output=True, check=True
        )
    return time.perf_counter() - started, int(done.stdout) / 1024


def bench_publisher(client: redis.Redis, lines: int) -> None:
    path = maxwell_file(OUT / f"maxwell-{lines}.jsonl", lines)
    raw = path.read_bytes().splitlines()

    client.flushdb()
    started = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for i, line in enumerate(raw, start=1):
        pipe.lpush("bench:lpush", line)
        if i % 1000 == 0:
            pipe.execute()
    pipe.execute()
    lpush = lines / (time.perf_counter() - started)

    client.flushdb()
    ours = lines / publish(path, OUT / "spool")[0]

    client.flushdb()
    naive_lines = min(lines, 20_000)
    app = Celery("naive", broker=settings.CELERY_BROKER_URL)
    started = time.perf_counter()
    for line in raw[:naive_lines]:
        app.send_task("cdc.process_line", args=[line.decode()], queue="cdc:prod")
    naive = naive_lines / (time.perf_counter() - started)

    print(f"Publisher ingest, {lines} Maxwell lines to messages in Redis")
    print(f"  redis-py pipelined LPUSH (baseline)  {lpush:9.0f} lines/s  1.00x")
    print(
        f"  cdc_publisher                        {ours:9.0f} lines/s  {ours / lpush:.2f}x  (target >= 0.35x)"
    )
    print(f"  one apply_async per line ({naive_lines} lines) {naive:7.0f} lines/s  "
          f"publisher is {ours / naive:.0f}x  (target >= 25x)")  # fmt: skip

    client.flushdb()
    at_100k = publish(maxwell_file(OUT / "maxwell-100000.jsonl", 100_000), OUT / "spool")[1]
    client.flushdb()
    at_1m = publish(maxwell_file(OUT / "maxwell-1000000.jsonl", 1_000_000), OUT / "spool")[1]
    client.flushdb()
    print(f"  peak RSS: {at_100k:.1f} MB at 100k lines, {at_1m:.1f} MB at 1M lines: "
          f"growth {at_1m - at_100k:.1f} MB (target <= 20 MB)")  # fmt: skip


def start_worker(queues: str) -> subprocess.Popen:
    log = OUT / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hub", "worker", "--pool", "solo", "--queues", queues,
         "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        cwd=ROOT, env=ENV, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    while "ready." not in log.read_text():
        time.sleep(0.1)
    return proc


def fifty_rules() -> str:
    """50 rules over five tables, ten each, alike but for a threshold: a realistic rule file."""
    rules = []
    for i in range(50):
        table = ["orders", "customers", "inventory", "payments", "shipments"][i % 5]
        where = {"data.status": {"equals": "refunded"}, "data.total": {"gt": i}}
        match = {"database": "shop", "table": table, "type": ["update"], "where": where}
        ticket = {"project": "OPS", "summary": "Order {{ data.id }} refunded ({{ rule }})"}
        rules.append({"name": f"rule-{i:02d}", "match": match, "ticket": ticket})
    return json.dumps({"version": 1, "rules": rules})


def drain_time(queues: str, done) -> float:
    """Seconds from a worker being ready until ``done()``: the messages were queued before."""
    worker = start_worker(queues)
    started = time.perf_counter()
    try:
        while not done():
            time.sleep(0.02)
        return time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait()


def events_recorded() -> int:
    return DailyStat.objects.filter(rule="").aggregate(n=Sum("events"))["n"] or 0


def bench_transform(client: redis.Redis, events: int) -> None:
    reset(client)
    import_rules(fifty_rules(), prune=True)
    publish(maxwell_file(OUT / f"transform-{events}.jsonl", events), OUT / "spool")
    ours = events / drain_time("cdc:prod", lambda: events_recorded() >= events)
    tickets = TicketRequest.objects.count()

    app = Celery("noop", broker=settings.CELERY_BROKER_URL)
    noops = min(events, 20_000)
    for _ in range(noops):
        app.send_task("celery.accumulate", queue="bench:noop")
    noop = noops / drain_time(
        "bench:noop", lambda: not client.llen("bench:noop") and not client.hlen("unacked")
    )

    print(f"Transform, {events} events, 50 rules ({tickets} tickets requested), one solo worker")
    print(f"  one no-op task per event (baseline)  {noop:9.0f} events/s  1.00x")
    print(f"  transform in batches                 {ours:9.0f} events/s  {ours / noop:.1f}x  (target >= 10x)")


def bench_burst(client: redis.Redis, rows: int) -> None:
    reset(client)
    import_rules((ROOT / "examples" / "rules.yaml").read_text(), prune=True)
    path = maxwell_file(OUT / f"burst-{rows}.jsonl", rows, table="inventory", start=10**7)
    publish(path, OUT / "spool")
    drained = drain_time(
        "cdc:prod,jira:create", lambda: events_recorded() >= rows and OutboxTicket.objects.exists()
    )
    requests = TicketRequest.objects.filter(rule_name="inventory-churn")
    print(f"Bulk UPDATE of {rows} rows under a grouped rule (inventory-churn: env, database, table; 10 min)")
    print(f"  tickets: {requests.count()} (target 1), events behind it: {requests.first().events.count()}, "
          f"drained in {drained:.1f} s ({rows / drained:.0f} events/s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--burst", type=int, default=100_000)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0)
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    bench_publisher(client, args.lines)
    bench_transform(client, args.events)
    bench_burst(client, args.burst)


if __name__ == "__main__":
    main()
