"""Batching Maxwell lines into messages, and sending them through Celery to ``cdc:<env>``."""

import os
import select
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from celery import Celery

from cdc_publisher.brokers import broker_kind, declare_queue, transport_options
from cdc_publisher.contract import BATCH_TASK, PAYLOAD_VERSION, Batch, Checkpoint, cdc_queue
from cdc_publisher.events import MAX_LINE_BYTES, InvalidEvent, parse_event, raw_text
from cdc_publisher.spool import Spool

DEFAULT_BATCH_SIZE = 500
# A batch is sent once its lines reach this many bytes, whatever their count: Redis holds at most
# 512 MB in one value, and a message carries its batch base64-encoded (a third larger).
DEFAULT_BATCH_BYTES = 64 * 1024 * 1024
DEFAULT_FLUSH_INTERVAL = 0.5  # seconds: a partial batch waits no longer than this when input idles
# A send gives up quickly when the broker is unreachable: the batch goes to the spool instead.
SEND_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
MAX_HEAD_KEPT = 64 * 1024  # of a line over the bound, what is kept for the error log
SPOOL_FULL_WAIT = 1.0  # seconds between tries to drain a full spool, input unread meanwhile

Sender = Callable[[Batch], None]


@dataclass
class OverlongLine:
    """A line longer than the reader's bound: only its head was kept, its length counted."""

    head: bytes
    size: int


@dataclass
class Stats:
    read: int = 0
    published: int = 0
    rejected: int = 0
    blank: int = 0
    batches: int = 0
    spooled: int = 0  # batches still waiting in the spool

    def summary(self) -> str:
        blank = f", {self.blank} blank skipped" if self.blank else ""
        spooled = f", {self.spooled} batches waiting in the spool" if self.spooled else ""
        return (
            f"read {self.read} lines: {self.published} events published in {self.batches} "
            f"batches, {self.rejected} rejected{blank}{spooled}"
        )


class Publisher:
    """Collects lines into batches and hands each full batch to ``send``.

    Valid lines travel as raw text (the hub re-parses them with the same parser); invalid ones
    travel as rejects with line number and reason, and are reported on ``errors``. With a
    ``spool``, a batch the broker does not take waits on disk, and batches leave in order: while
    the spool holds any, new ones queue behind them. A full spool stops the caller (and so the
    reading of input) until the broker takes batches again. Without one, the caller waits.
    """

    def __init__(
        self,
        env: str,
        send: Sender,
        *,
        source: str = "maxwell",
        origin: str = "",
        batch_size: int = DEFAULT_BATCH_SIZE,
        errors: TextIO | None = None,
        spool: Spool | None = None,
        on_delivered: Callable[[], None] | None = None,
        checkpoint: Callable[[], Checkpoint | None] | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        self.env = env
        self.send = send
        self.source = source
        self.origin = origin or f"{socket.gethostname()}:stdin"
        self.batch_size = batch_size
        self.errors = errors or sys.stderr
        self.spool = spool
        self.on_delivered = on_delivered  # called once a batch is with the broker or in the spool
        self.checkpoint = checkpoint  # where the source reads on from once a batch is delivered
        self.max_line_bytes = max_line_bytes
        self.max_batch_bytes = max_batch_bytes
        self._bytes = 0  # of the batch in hand
        self.stats = Stats()
        self._broker_down = False
        self._events: list[tuple[int, str]] = []
        self._rejects: list[tuple[int, str, str]] = []

    def feed(self, lineno: int, raw: bytes | OverlongLine) -> None:
        self.stats.read += 1
        if isinstance(raw, OverlongLine):
            reason = f"line of {raw.size:,} bytes, over --max-line-bytes ({self.max_line_bytes:,})"
            self.reject(lineno, raw_text(raw.head, raw.size), reason)
        elif not raw.strip():
            self.stats.blank += 1
            return
        else:
            try:
                parse_event(raw, self.max_line_bytes)
            except InvalidEvent as exc:
                self.reject(lineno, raw_text(raw), str(exc))
            else:
                self._events.append((lineno, raw.decode()))
                self._bytes += len(raw)
        if len(self._events) + len(self._rejects) >= self.batch_size or self._bytes >= self.max_batch_bytes:
            self.flush()

    def reject(self, lineno: int, text: str, reason: str) -> None:
        self.stats.rejected += 1
        self._rejects.append((lineno, text, reason))
        self._bytes += len(text)
        print(f"cdc_publisher: line {lineno} rejected: {reason}", file=self.errors, flush=True)

    def flush(self) -> None:
        if not self._events and not self._rejects:
            return
        batch: Batch = {
            "v": PAYLOAD_VERSION,
            "env": self.env,
            "source": self.source,
            "origin": self.origin,
            "events": self._events,
            "rejects": self._rejects,
        }
        if self.checkpoint and (checkpoint := self.checkpoint()):
            batch["checkpoint"] = checkpoint
        self._events, self._rejects, self._bytes = [], [], 0
        if self.spool is None:
            # No spool (the binlog source, whose checkpoint must wait for the broker): wait.
            delay = 0.2
            while not self.try_send(batch):
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        else:
            try:
                if not self.drain() or not self.try_send(batch):
                    self.keep(batch)
            except BaseException:
                # Stopped (SIGTERM) mid-delivery: keep the batch even past the spool's bound. If
                # it had in fact gone out, the hub drops the second copy.
                self.spool.append(batch, force=True)
                raise
        if self.on_delivered:
            self.on_delivered()

    def sent(self, batch: Batch) -> None:
        self.stats.published += len(batch["events"])
        self.stats.batches += 1

    def try_send(self, batch: Batch) -> bool:
        try:
            self.send(batch)
        except Exception as exc:  # noqa: BLE001 - whatever the broker's client raises, the batch is kept
            if not self._broker_down:
                reason = f"{type(exc).__name__}: {exc}"
                then = f"keeping batches in {self.spool.directory}" if self.spool else "waiting for it"
                self.say(f"the broker did not take a batch ({reason}); {then}")
            self._broker_down = True
            return False
        if self._broker_down:
            self.say("the broker takes batches again; sending what the spool holds")
        self._broker_down = False
        self.sent(batch)
        return True

    def drain(self) -> bool:
        """Send what the spool holds, oldest first; True when it is empty."""
        if self.spool is None:
            return True
        while (oldest := self.spool.peek()) is not None:
            batch, length = oldest
            if not self.try_send(batch):
                return False
            self.spool.pop(length)
        return True

    def keep(self, batch: Batch) -> None:
        """Put a batch in the spool; while it is full, wait for the broker (back-pressure)."""
        waiting = False
        while not self.spool.append(batch):
            if not waiting:
                self.say(f"spool full ({self.spool.size} bytes): not reading input until the broker is back")
                waiting = True
            time.sleep(SPOOL_FULL_WAIT)
            self.drain()

    def idle(self) -> None:
        """Input is quiet: send the partial batch (which tries the spool first), or else try the
        spool again: one attempt at the broker per quiet spell, not two."""
        if self._events or self._rejects:
            self.flush()
        elif self.spool is not None and self.spool.pending():
            self.drain()

    def spooled_batches(self) -> int:
        if self.spool is None or not self.spool.pending():
            return 0
        with self.spool.data_path.open("rb") as f:
            f.seek(self.spool.offset)
            return sum(1 for _ in f)

    def say(self, message: str) -> None:
        print(f"cdc_publisher: {message}", file=self.errors, flush=True)


def celery_sender(broker_url: str, env: str) -> Sender:
    """A Sender that publishes each batch as one ``cdc.process_batch`` message on ``cdc:<env>``,
    declared as the hub declares it (on RabbitMQ a durable quorum queue; a send returns once the
    broker has confirmed the message). It raises soon when the broker is unreachable or refuses
    the batch (the Publisher then spools it)."""
    kind = broker_kind(broker_url)
    queue = cdc_queue(env)
    app = Celery("cdc_publisher", broker=broker_url)
    app.conf.broker_connection_retry_on_startup = True
    app.conf.broker_connection_timeout = 5
    app.conf.broker_transport_options = transport_options(kind, socket_timeout=10)
    app.conf.task_queues = [declare_queue(queue, kind)]

    def send(batch: Batch) -> None:
        app.send_task(
            BATCH_TASK,
            args=[batch],
            argsrepr=describe(batch),  # what results and Flower show instead of the whole batch
            queue=queue,
            retry=True,
            retry_policy=SEND_RETRY_POLICY,
        )

    return send


def describe(batch: Batch) -> str:
    lines = [n for n, *_ in batch["events"]] + [n for n, *_ in batch["rejects"]]
    return (
        f"[{batch['env']} batch from {batch['origin']}: lines {min(lines)}-{max(lines)}, "
        f"{len(batch['events'])} events, {len(batch['rejects'])} rejected]"
    )


def read_lines(
    stream: BinaryIO, idle: Callable[[], None], idle_after: float, max_bytes: int = MAX_LINE_BYTES
) -> Iterator[bytes | OverlongLine]:
    """Yield lines from ``stream`` as they arrive, calling ``idle`` whenever no input has come
    for ``idle_after`` seconds, so a partial batch never waits for the next burst.

    Linear in the input: each chunk is searched for newlines once, and a line is joined from its
    pieces once. A line over ``max_bytes`` is not kept: its head and length come as an
    OverlongLine, and reading goes on after its newline."""
    fd = stream.fileno()
    pieces: list[bytes] = []  # the line so far, up to its last chunk
    size = 0
    overlong: OverlongLine | None = None

    def line_of(last: bytes) -> bytes | OverlongLine:
        nonlocal pieces, size, overlong
        total = size + len(last)
        if overlong is not None:
            overlong.size = total
            line: bytes | OverlongLine = overlong
        elif total > max_bytes:
            line = OverlongLine(b"".join([*pieces, last])[:MAX_HEAD_KEPT], total)
        else:
            line = b"".join([*pieces, last]) if pieces else last
        pieces, size, overlong = [], 0, None
        return line

    while True:
        ready, _, _ = select.select([fd], [], [], idle_after)
        if not ready:
            idle()
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            yield line_of(chunk[start:end])
            start = end + 1
        rest = chunk[start:]
        if overlong is None and size + len(rest) > max_bytes:
            overlong = OverlongLine(b"".join([*pieces, rest])[:MAX_HEAD_KEPT], 0)
            pieces = []
        elif overlong is None and rest:
            pieces.append(rest)
        size += len(rest)
    if size or pieces:
        yield line_of(b"")
