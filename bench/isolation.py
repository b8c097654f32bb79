"""What isolating a poison line costs, against the same batch without one, in the same run.

    python -m bench.isolation [--batch 500] [--rounds 5]

A batch of --batch refunds under the example rules is transformed in-process (what the batch task
does); then the same batch with one line in the middle that PostgreSQL refuses (a check
constraint stands for whatever the hub's checks did not foresee), which the hub isolates by
splitting the batch. Prints the best time of each, their ratio, and the parts that committed.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from jira_bridge.models import TicketRequest  # noqa: E402
from notifications.models import AuditEntry, DailyStat, ErrorLog, Event  # noqa: E402
from rules import batches  # noqa: E402
from rules.importing import import_rules  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def refund(n: int, round_: int, poison: bool = False) -> str:
    data = {"id": n, "status": "refunded", **({"poison": True} if poison else {})}
    return json.dumps({"database": "shop", "table": "orders", "type": "update", "ts": 1763700000,
                       "xid": round_ * 100_000 + n, "data": data, "old": {"status": "paid"}})  # fmt: skip


def batch(size: int, round_: int, poison: bool) -> dict:
    lines = [[n, refund(n, round_, poison and n == size // 2)] for n in range(1, size + 1)]
    return {"v": 1, "env": "prod", "source": "maxwell", "origin": "bench", "events": lines, "rejects": []}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0)
    for model in (TicketRequest, Event, ErrorLog, AuditEntry, DailyStat):
        model.objects.all().delete()
    import_rules((ROOT / "examples" / "rules.yaml").read_text())
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event DROP CONSTRAINT IF EXISTS bench_poison")
        cursor.execute(
            "ALTER TABLE notifications_event "
            "ADD CONSTRAINT bench_poison CHECK (NOT (payload->'data' ? 'poison'))"
        )
    best = {False: float("inf"), True: float("inf")}
    tries = {}
    try:
        for round_ in range(args.rounds):
            for poison in (False, True):  # interleaved: the machine's noise falls on both
                committed = AuditEntry.objects.filter(action=AuditEntry.EVENTS_RECEIVED).count()
                started = time.perf_counter()
                result = batches.process_cdc_batch(batch(args.batch, 2 * round_ + poison, poison))
                best[poison] = min(best[poison], time.perf_counter() - started)
                # one audit entry per part of the batch that committed
                tries[poison] = (
                    AuditEntry.objects.filter(action=AuditEntry.EVENTS_RECEIVED).count() - committed
                )
                assert result.events == args.batch - poison and result.rejected == poison, result
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE notifications_event DROP CONSTRAINT bench_poison")
    print(f"batch of {args.batch} refunds, best of {args.rounds}:")
    print(f"  clean (baseline): {best[False] * 1000:.1f} ms, {tries[False]} part committed")
    print(f"  one poison line:  {best[True] * 1000:.1f} ms = {best[True] / best[False]:.2f}x, "
          f"{tries[True]} parts committed, {args.batch - 1} events recorded, 1 bad input")  # fmt: skip


if __name__ == "__main__":
    main()
