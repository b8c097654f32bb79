"""``python -m cdc_publisher --env ENV``: Maxwell JSON lines on stdin to the hub's ``cdc:ENV``;
with ``--source binlog --mysql-url URL``, the binlog read directly (``--output maxwell-json``
prints Maxwell's lines instead of publishing them)."""

import argparse
import os
import signal
import socket
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pymysql

from cdc_publisher.binlog import BinlogSource, Checkpoint, CheckpointRefused, Position, Progress
from cdc_publisher.brokers import UnsupportedBroker, broker_kind
from cdc_publisher.events import MAX_LINE_BYTES
from cdc_publisher.publisher import (
    DEFAULT_BATCH_BYTES,
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
    parser.add_argument("--source", choices=["maxwell", "binlog"], default="maxwell")
    parser.add_argument("--mysql-url", help="with --source binlog: mysql://USER:PASS@HOST:PORT/")
    parser.add_argument(
        "--server-id",
        type=int,
        default=int(os.environ.get("CDC_SERVER_ID", 0)) or None,
        help="with --source binlog: the replica id to use, unique among the server's replicas "
        "(default: CDC_SERVER_ID, else derived from the host name and environment)",
    )
    parser.add_argument(
        "--checkpoint", help="with --source binlog: the position file (default: in the spool directory)"
    )
    parser.add_argument(
        "--from-current",
        action="store_true",
        help="with --source binlog: start from the server's current position, overwriting the "
        "checkpoint (what it refused at start); the events in between are skipped",
    )
    parser.add_argument(
        "--output",
        choices=["publish", "maxwell-json"],
        default="publish",
        help="with --source binlog: publish (default), or print Maxwell JSON lines on stdout",
    )
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("CELERY_BROKER_URL")
        or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="the hub's broker (default: CELERY_BROKER_URL, then REDIS_URL)",
    )
    parser.add_argument(
        "--max-line-bytes",
        type=int,
        default=int(os.environ.get("CDC_MAX_LINE_BYTES", MAX_LINE_BYTES)),
        help="a longer line is rejected (its head kept for the error log), not read into memory "
        "(default: CDC_MAX_LINE_BYTES, else 16 MiB)",
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument(
        "--max-batch-bytes",
        type=int,
        default=int(os.environ.get("CDC_MAX_BATCH_BYTES", DEFAULT_BATCH_BYTES)),
        help="a batch is sent once its lines reach this size, whatever their count (default: "
        "CDC_MAX_BATCH_BYTES, else 64 MiB; Redis holds at most 512 MB in a message)",
    )
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

    try:
        if args.output == "publish":
            broker_kind(args.broker_url)
    except UnsupportedBroker as exc:  # the URL itself is not printed: it may hold a password
        print(f"cdc_publisher: --broker-url: {exc}", file=sys.stderr)
        return 2
    if args.source == "binlog" and not args.mysql_url:
        print(
            "cdc_publisher: --source binlog needs --mysql-url mysql://USER:PASS@HOST:PORT/", file=sys.stderr
        )
        return 2
    spool_dir = Path(args.spool_dir or Path.home() / ".local/state/cdc_publisher" / args.env)
    # SIGTERM ends the reading like end of input: what was read is delivered or spooled.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.source == "binlog":
        checkpoint = Checkpoint(
            Path(args.checkpoint) if args.checkpoint else spool_dir / "binlog-checkpoint.json"
        )
        server_id = (
            args.server_id or 10_000 + zlib.crc32(f"{socket.gethostname()}:{args.env}".encode()) % 100_000
        )
        try:
            source = BinlogSource(args.mysql_url, server_id=server_id)
            source.start_from(checkpoint, from_current=args.from_current)
        except (ValueError, CheckpointRefused) as exc:
            print(f"cdc_publisher: {exc}", file=sys.stderr)
            return 2
        except pymysql.Error as exc:
            print(f"cdc_publisher: cannot read the binlog of {source.address}: {exc}", file=sys.stderr)
            return 1

        def save(position: Position) -> None:
            checkpoint.save(position, source.identity_of(position.log_file))

        if args.output == "maxwell-json":
            try:
                print_lines(source, checkpoint, save, sys.stdout.buffer)
            except BrokenPipeError:
                # Whoever read our stdout is gone; what it did not get stays behind the checkpoint.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                print("cdc_publisher: stdout closed; stopping", file=sys.stderr)
                return 1
            return 0

    # Lines from stdin wait in the spool when the broker is down (Maxwell has moved on); the
    # binlog keeps its own history, so its reading waits instead and the checkpoint holds.
    send = celery_sender(args.broker_url, args.env)
    if args.source == "binlog":
        progress = Progress()
        publisher = Publisher(
            args.env, send, batch_size=args.batch_size, source="binlog", max_line_bytes=args.max_line_bytes,
            max_batch_bytes=args.max_batch_bytes,
            origin=f"{source.settings['host']}:{source.settings['port']} binlog",
            on_delivered=lambda: progress.complete and save(progress.complete),
            checkpoint=lambda: progress.complete and source.checkpoint_of(progress.complete),
        )  # fmt: skip
    else:
        publisher = Publisher(
            args.env, send, batch_size=args.batch_size, spool=Spool(spool_dir, args.spool_max_bytes),
            max_line_bytes=args.max_line_bytes, max_batch_bytes=args.max_batch_bytes,
        )  # fmt: skip
    try:
        publisher.drain()  # what an earlier run left in the spool goes first
        if args.source == "binlog":
            publish_lines(source, progress, publisher)
        else:
            for lineno, raw in enumerate(
                read_lines(sys.stdin.buffer, publisher.idle, args.flush_interval, args.max_line_bytes),
                start=1,
            ):
                publisher.feed(lineno, raw)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the last flush
        publisher.flush()
        publisher.drain()
        publisher.stats.spooled = publisher.spooled_batches()
        print(f"cdc_publisher: {publisher.stats.summary()}", file=sys.stderr, flush=True)
    return 0


def publish_lines(source: BinlogSource, progress: Progress, publisher: Publisher) -> None:
    """Binlog lines into the publisher, noting in ``progress`` the last transaction handed over
    whole (the publisher's on_delivered saves it as the checkpoint once a batch is delivered)."""
    lineno = 0
    for line, end in source.lines():
        if line is None:  # the server is quiet: everything fed so far is whole
            progress.quiet()
            publisher.idle()
            continue
        progress.line(end)
        lineno += 1
        publisher.feed(lineno, line)


def print_lines(source: BinlogSource, checkpoint: Checkpoint, save: Callable[[Position], None], out) -> None:
    """Stand in for Maxwell: one JSON line per event on stdout, the checkpoint saved once a
    transaction's lines are flushed."""
    progress = Progress()
    for line, end in source.lines():
        if line is None:
            progress.quiet()
        else:
            progress.line(end)
        if progress.complete and progress.complete != checkpoint.last:
            out.flush()
            save(progress.complete)
        if line is not None:
            out.write(line + b"\n")


if __name__ == "__main__":
    sys.exit(main())
