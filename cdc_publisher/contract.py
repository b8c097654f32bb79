"""What the publisher and the hub agree on: queue names, the task name and the batch payload.

This module imports nothing but the standard library: the publisher runs on environment machines
that have only the broker, and the hub imports these names from here.
"""

from typing import TypedDict

BATCH_TASK = "cdc.process_batch"
DEAD_LETTER_QUEUE = "jira:retry"
PAYLOAD_VERSION = 1


def cdc_queue(env: str) -> str:
    """The queue that carries one environment's change events, e.g. ``cdc:prod``."""
    return f"cdc:{env}"


class Batch(TypedDict):
    """One message on ``cdc:<env>``.

    ``events`` holds the raw Maxwell lines that parsed (line number, text): the hub parses them
    again with the same function, so both ends agree on what an event is. ``rejects`` holds the
    lines that did not, with the reason, so the hub can store them as bad input.
    """

    v: int
    env: str
    source: str  # "maxwell" (stdin) or "binlog"
    origin: str  # where it was read: host and input name, for the error log
    events: list[tuple[int, str]]
    rejects: list[tuple[int, str, str]]
