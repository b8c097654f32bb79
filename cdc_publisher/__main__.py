"""``python -m cdc_publisher --env ENV``: Maxwell JSON lines on stdin to the hub's ``cdc:ENV``."""

import argparse
import os
import signal
import sys
from pathlib import Path

from cdc_publisher.publisher import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_FLUSH_INTERVAL,
    Publisher,
    celery_sender,
    read_lines,
)
from cdc_publisher.spool import Spool


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m cdc_publisher",
        description="Publish an environment's MySQL change events (Maxwell JSON on stdin) to the hub.",
    )
    parser.add_argument("--env", required=True, help="environment name, one of HUB_ENVIRONMENTS")
    parser.add_argument("--source", choices=["maxwell"], default="maxwell")
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("CELERY_BROKER_URL")
        or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="the hub's broker (default: CELERY_BROKER_URL, then REDIS_URL)",
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--flush-interval", type=float, default=DEFAULT_FLUSH_INTERVAL)
    parser.add_argument(
        "--spool-dir",
        default=os.environ.get("CDC_SPOOL_DIR"),
        help="where batches wait while the broker is unreachable "
        "(default: CDC_SPOOL_DIR, else ~/.local/state/cdc_publisher/ENV)",
    )
    parser.add_argument(
        "--spool-max-bytes",
        type=int,
        default=int(os.environ.get("CDC_SPOOL_MAX_BYTES", 1 << 30)),
        help="spool bound; when full, input is not read until the broker is back (default 1 GiB)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    environments = [
        e.strip() for e in os.environ.get("HUB_ENVIRONMENTS", "dev,staging,prod").split(",") if e.strip()
    ]
    if args.env not in environments:
        print(
            f"cdc_publisher: unknown environment {args.env!r}; expected one of "
            f"{', '.join(environments)} (set HUB_ENVIRONMENTS to change the list)",
            file=sys.stderr,
        )
        return 2

    spool_dir = Path(args.spool_dir or Path.home() / ".local/state/cdc_publisher" / args.env)
    publisher = Publisher(
        args.env,
        celery_sender(args.broker_url, args.env),
        batch_size=args.batch_size,
        spool=Spool(spool_dir, args.spool_max_bytes),
    )
    # SIGTERM ends the read loop like end of input: what was read is delivered or spooled.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        publisher.drain()  # what an earlier run left in the spool goes first
        for lineno, raw in enumerate(
            read_lines(sys.stdin.buffer, publisher.idle, args.flush_interval), start=1
        ):
            publisher.feed(lineno, raw)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the last flush
        publisher.flush()
        publisher.drain()
        publisher.stats.spooled = publisher.spooled_batches()
        print(f"cdc_publisher: {publisher.stats.summary()}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
