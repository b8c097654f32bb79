"""The publisher's line reader on long lines, against reading the same bytes and counting their
newlines (the least any reader does), in the same run; and the reader the publisher had before,
which split the whole pending buffer at every chunk.

    python -m bench.lines [--mb 10 20 40]

Linear means the ratio to the baseline stays flat as lines grow; the old reader's grows with them.
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdc_publisher.publisher import read_lines  # noqa: E402


def piped(data: bytes):
    """A pipe with ``data`` written into it from a thread, as stdin would be."""
    read, write = os.pipe()

    def feed() -> None:
        with os.fdopen(write, "wb") as f:
            f.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return os.fdopen(read, "rb")


def baseline(stream) -> int:
    lines = 0
    while chunk := os.read(stream.fileno(), 1 << 16):
        lines += chunk.count(b"\n")
    return lines


def old_reader(stream) -> int:
    """The reader before issue 10: pending += chunk, then split all of pending, per chunk."""
    pending, lines = b"", 0
    while chunk := os.read(stream.fileno(), 1 << 16):
        pending += chunk
        *done, pending = pending.split(b"\n")
        lines += len(done)
    return lines


def reader(stream) -> int:
    return sum(1 for _ in read_lines(stream, lambda: None, 5.0, max_bytes=1 << 30))


def timed(how, data: bytes) -> float:
    with piped(data) as stream:
        started = time.perf_counter()
        how(stream)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, nargs="+", default=[10, 20, 40])
    parser.add_argument("--old-up-to", type=int, default=20, help="MB; the old reader is quadratic")
    args = parser.parse_args()
    print("one line of N MB, then a short one; best of 3")
    for mb in args.mb:
        data = b'{"blob":"' + b"x" * (mb << 20) + b'"}\nshort\n'
        base = min(timed(baseline, data) for _ in range(3))
        new = min(timed(reader, data) for _ in range(3))
        line = f"  {mb:>3} MB: read and count {base:.3f} s (baseline); "
        line += f"read_lines {new:.3f} s = {new / base:.1f}x"
        if mb <= args.old_up_to:
            old = timed(old_reader, data)
            line += f"; the old reader {old:.2f} s = {old / base:.0f}x"
        print(line)


if __name__ == "__main__":
    main()
