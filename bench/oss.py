"""Benchmark of an OSS check at scale, against the fake OSS in its own process.

    python -m bench.oss [--objects 1000000] [--changes 1000]

Prints the wall time of a check (first: the baseline, which stores every fingerprint; then one
with nothing changed) as a ratio to merely listing the bucket through ``oss2`` in the same run
(target <= 2x), the process's peak memory (target <= 200 MB), the list calls made (must be
ceil(N / 1000)), and, after --changes objects change, the events emitted (must equal them).
"""

import argparse
import math
import os
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

import oss2  # noqa: E402
from django.core.management import call_command  # noqa: E402

from oss_watch.check import check_bucket  # noqa: E402
from oss_watch.listing import OssLister  # noqa: E402
from oss_watch.models import WatchedBucket  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def list_only(url: str, bucket: str) -> tuple[float, int, int]:
    """The baseline: every page through oss2, nothing else."""
    client = oss2.Bucket(oss2.Auth("test-ak", "test-secret"), url, bucket)
    started, token, count, calls = time.perf_counter(), "", 0, 0
    while True:
        calls += 1
        result = client.list_objects_v2(continuation_token=token, max_keys=1000)
        count += len(result.object_list)
        if not result.is_truncated:
            return time.perf_counter() - started, count, calls
        token = result.next_continuation_token


def timed_check(watched: WatchedBucket) -> tuple[float, object]:
    watched.refresh_from_db()
    lister = OssLister(watched)
    started = time.perf_counter()
    result = check_bucket(watched, lister, lambda changes: None)  # result.sent counts each batch
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=1000)
    args = parser.parse_args()
    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0)
    os.environ.update(BENCH_OSS_AK="test-ak", BENCH_OSS_SK="test-secret")

    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.oss", "big", str(args.objects)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = server.stdout.readline().strip()
        WatchedBucket.objects.filter(bucket="big").delete()
        watched = WatchedBucket.objects.create(
            environment="prod", endpoint=url, bucket="big", access_key_env="BENCH_OSS_AK",
            secret_key_env="BENCH_OSS_SK", enabled=False,
        )  # fmt: skip
        before = peak_mb()
        listing, listed, list_calls = list_only(url, "big")
        first, baseline = timed_check(watched)
        steady, unchanged = timed_check(watched)
        change = urllib.request.Request(f"{url}/_fake/change?bucket=big&count={args.changes}", method="POST")
        with urllib.request.urlopen(change) as answer:
            changed = int(answer.read())
        _, after_changes = timed_check(watched)
        peak = peak_mb()
    finally:
        server.stdin.close()
        server.wait()

    expected_calls = math.ceil(args.objects / 1000)
    print(f"OSS check, {listed} objects on the fake OSS (its own process), one bucket")
    print(f"  listing through oss2 (baseline)     {listing:6.1f} s  1.00x  ({list_calls} calls)")
    first_ratio = first / listing
    print(
        f"  first check (baseline recorded)     {first:6.1f} s  {first_ratio:.2f}x  ({baseline.calls} calls)"
    )
    print(f"  check, nothing changed              {steady:6.1f} s  {steady / listing:.2f}x  (target <= 2x; "
          f"{unchanged.calls} calls, must be {expected_calls})")  # fmt: skip
    print(f"  peak memory {peak:.0f} MB (target <= 200 MB; {before:.0f} MB before the first listing)")
    emitted = sum(after_changes.sent)
    kinds = (
        f"{after_changes.created} created, {after_changes.modified} modified, {after_changes.deleted} deleted"
    )
    print(f"  after {changed} changes: {emitted} events emitted ({kinds})")


if __name__ == "__main__":
    main()
