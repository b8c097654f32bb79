"""Batching Maxwell lines into messages, and sending them through Celery to ``cdc:<env>``."""

import os
import select
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from celery import Celery

from cdc_publisher.contract import BATCH_TASK, PAYLOAD_VERSION, Batch, cdc_queue
from cdc_publisher.events import InvalidEvent, parse_event, raw_text

DEFAULT_BATCH_SIZE = 500
DEFAULT_FLUSH_INTERVAL = 0.5  # seconds: a partial batch waits no longer than this when input idles
# Wait for the broker rather than drop anything: retry forever, backing off to 5 s.
SEND_RETRY_POLICY = {"max_retries": None, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 5}

Sender = Callable[[Batch], None]


@dataclass
class Stats:
    read: int = 0
    published: int = 0
    rejected: int = 0
    blank: int = 0
    batches: int = 0

    def summary(self) -> str:
        blank = f", {self.blank} blank skipped" if self.blank else ""
        return (
            f"read {self.read} lines: {self.published} events published in {self.batches} "
            f"batches, {self.rejected} rejected{blank}"
        )


class Publisher:
    """Collects lines into batches and hands each full batch to ``send``.

    Valid lines travel as raw text (the hub re-parses them with the same parser); invalid ones
    travel as rejects with line number and reason, and are reported on ``errors``.
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
    ) -> None:
        self.env = env
        self.send = send
        self.source = source
        self.origin = origin or f"{socket.gethostname()}:stdin"
        self.batch_size = batch_size
        self.errors = errors or sys.stderr
        self.stats = Stats()
        self._events: list[tuple[int, str]] = []
        self._rejects: list[tuple[int, str, str]] = []

    def feed(self, lineno: int, raw: bytes) -> None:
        self.stats.read += 1
        if not raw.strip():
            self.stats.blank += 1
            return
        try:
            parse_event(raw)
        except InvalidEvent as exc:
            self.stats.rejected += 1
            self._rejects.append((lineno, raw_text(raw), str(exc)))
            print(f"cdc_publisher: line {lineno} rejected: {exc}", file=self.errors, flush=True)
        else:
            self._events.append((lineno, raw.decode()))
        if len(self._events) + len(self._rejects) >= self.batch_size:
            self.flush()

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
        self.send(batch)
        self.stats.published += len(self._events)
        self.stats.batches += 1
        self._events, self._rejects = [], []


def celery_sender(broker_url: str, env: str) -> Sender:
    """A Sender that publishes each batch as one ``cdc.process_batch`` message on ``cdc:<env>``,
    waiting (not dropping) while the broker is unreachable."""
    app = Celery("cdc_publisher", broker=broker_url)
    app.conf.broker_connection_retry_on_startup = True
    queue = cdc_queue(env)

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


def read_lines(stream: BinaryIO, idle: Callable[[], None], idle_after: float) -> Iterator[bytes]:
    """Yield lines from ``stream`` as they arrive, calling ``idle`` whenever no input has come
    for ``idle_after`` seconds, so a partial batch never waits for the next burst."""
    fd = stream.fileno()
    pending = b""
    while True:
        ready, _, _ = select.select([fd], [], [], idle_after)
        if not ready:
            idle()
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from lines
    if pending:
        yield pending
