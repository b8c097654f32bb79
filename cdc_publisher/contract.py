"""What the publisher and the hub agree on: queue names, the task name and the batch payload.

This module imports nothing but the standard library: the publisher runs on environment machines
that have only the broker, and the hub imports these names from here.
"""

from typing import Any, NotRequired, TypedDict

BATCH_TASK = "cdc.process_batch"
DEAD_LETTER_QUEUE = "jira:retry"
PAYLOAD_VERSION = 1


def cdc_queue(env: str) -> str:
    """The queue that carries one environment's change events, e.g. ``cdc:prod``."""
    return f"cdc:{env}"


class Checkpoint(TypedDict):
    """Where a binlog publisher reads on from once a batch is delivered, and whose binlog that
    is: what its checkpoint file holds (cdc_publisher.binlog.Checkpoint)."""

    log_file: str
    log_pos: int
    server_id: int
    server_uuid: str | None  # MySQL's; MariaDB has none
    log_file_created: int | None  # the file's first event's timestamp, seconds since the epoch


class Batch(TypedDict):
    """One message on ``cdc:<env>``.

    ``events`` holds the raw Maxwell lines that parsed (line number, text): the hub parses them
    again with the same function, so both ends agree on what an event is. ``rejects`` holds the
    lines that did not, with the reason, so the hub can store them as bad input. ``checkpoint``
    (binlog source only; older publishers send none) is what the hub shows as the environment's
    last position.
    """

    v: int
    env: str
    source: str  # "maxwell" (stdin) or "binlog"
    origin: str  # where it was read: host and input name, for the error log
    events: list[tuple[int, str]]
    rejects: list[tuple[int, str, str]]
    checkpoint: NotRequired[Checkpoint]


CHECKPOINT_FIELDS = {
    "log_file": (str,),
    "log_pos": (int,),
    "server_id": (int,),
    "server_uuid": (str, type(None)),
    "log_file_created": (int, type(None)),
}


def checkpoint_problem(value: Any) -> str:
    """Why a batch's ``checkpoint`` is not one, or '' if it is."""
    if not isinstance(value, dict):
        return f"a {type(value).__name__}, not a mapping"
    for name, kinds in CHECKPOINT_FIELDS.items():
        if name not in value:
            return f"{name} missing"
        if not isinstance(value[name], kinds) or isinstance(value[name], bool):
            return f"{name} is a {type(value[name]).__name__}"
    return ""
