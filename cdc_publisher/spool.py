"""A bounded on-disk queue of batches, for while the broker is unreachable.

One append-only file of batches (a JSON line each) and a file holding how far it has been sent.
Appends are fsynced: a batch in the spool survives the publisher's crash or restart, and the next
start sends it first. When everything has been sent, both files are emptied.
"""

import os
import sys
from pathlib import Path

import orjson

from cdc_publisher.contract import Batch


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.data_path = self.directory / "batches.jsonl"
        self.offset_path = self.directory / "sent-offset"
        self.data_path.touch()
        self.set_aside_torn_tail()
        self.offset = int(self.offset_path.read_text() or 0) if self.offset_path.exists() else 0
        if self.offset > self.size:  # emptied after everything was sent, before the offset was reset
            self.offset = 0

    def set_aside_torn_tail(self) -> None:
        """A write cut short (disk full, a kill before the fsync) leaves a last line without its
        newline: it would be glued to the next batch, and neither could be read back. Its bytes
        go to batches.torn, with a message, and the spool goes on from the last whole batch."""
        size = self.size
        if not size:
            return
        with self.data_path.open("r+b") as f:
            end = size
            while end > 0:
                start = max(0, end - 65536)
                f.seek(start)
                chunk = f.read(end - start)
                if start + len(chunk) == size and chunk.endswith(b"\n"):
                    return  # whole
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    end = start + newline + 1
                    break
                end = start
            f.seek(end)
            torn = f.read()
            with (self.directory / "batches.torn").open("ab") as kept:
                kept.write(torn + b"\n")
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
        print(
            f"cdc_publisher: spool: an incomplete batch ({len(torn)} bytes, cut short when written) "
            f"set aside in {self.directory / 'batches.torn'}; its lines were not sent",
            file=sys.stderr,
            flush=True,
        )

    @property
    def size(self) -> int:
        return self.data_path.stat().st_size

    def pending(self) -> int:
        """Bytes of batches waiting to be sent."""
        return self.size - self.offset

    def append(self, batch: Batch, force: bool = False) -> bool:
        """Keep a batch on disk; False (and nothing written) when that would pass max_bytes,
        unless ``force``."""
        line = orjson.dumps(batch) + b"\n"
        if not force and self.size + len(line) > self.max_bytes:
            return False
        with self.data_path.open("ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        return True

    def peek(self) -> tuple[Batch, int] | None:
        """The oldest batch not yet sent, and its length on disk."""
        if not self.pending():
            return None
        with self.data_path.open("rb") as f:
            f.seek(self.offset)
            line = f.readline()
        return orjson.loads(line), len(line)

    def pop(self, length: int) -> None:
        """Mark the oldest batch sent. A crash here may send a batch again (the hub drops the
        redelivery), never lose one."""
        self.offset += length
        emptied = self.offset >= self.size
        if emptied:
            self.offset = 0
        temporary = self.offset_path.with_suffix(".tmp")
        temporary.write_text(str(self.offset))
        os.replace(temporary, self.offset_path)
        if emptied:
            self.data_path.write_bytes(b"")
