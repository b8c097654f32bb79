"""Parsing Maxwell's JSON lines: the one definition of a valid change event, used by the
publisher before sending and by the hub before processing."""

import hashlib
from typing import Any

import orjson

ROW_TYPES = frozenset({"insert", "update", "delete", "bootstrap-insert"})
BOOTSTRAP_CONTROL_TYPES = frozenset({"bootstrap-start", "bootstrap-complete"})
DDL_TYPES = frozenset(
    {
        "database-create",
        "database-alter",
        "database-drop",
        "table-create",
        "table-alter",
        "table-drop",
    }
)
KNOWN_TYPES = ROW_TYPES | BOOTSTRAP_CONTROL_TYPES | DDL_TYPES

# A rejected line is stored with its raw text; past this size only the head is kept.
MAX_RAW_KEPT = 64 * 1024
NAME_MAX = 64  # MySQL's identifier limit, and the hub's database/table columns
ID_MAX = 255  # the hub's event id column (notifications.Event.event_id)


class InvalidEvent(ValueError):
    """A line that is not a valid Maxwell event; the message says why."""


def parse_event(raw: bytes | str) -> dict[str, Any]:
    """Parse and validate one Maxwell line; raise InvalidEvent with a reason if it is not one.

    Row events need ``database``, ``table``, ``type`` and a ``data`` object (updates may carry
    ``old``); bootstrap control and DDL events need ``database`` and ``type`` and are accepted
    as they are.
    """
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise InvalidEvent(f"not a JSON object but {type(event).__name__}")
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        raise InvalidEvent("missing 'type'")
    if kind not in KNOWN_TYPES:
        raise InvalidEvent(f"unknown type {kind!r}")
    if not isinstance(event.get("database"), str) or not event["database"]:
        raise InvalidEvent("missing 'database'")
    for name in ("database", "table"):
        if isinstance(event.get(name), str) and len(event[name]) > NAME_MAX:
            raise InvalidEvent(f"'{name}' longer than {NAME_MAX} characters (MySQL's limit)")
    if kind in ROW_TYPES:
        if not isinstance(event.get("table"), str) or not event["table"]:
            raise InvalidEvent("missing 'table'")
        if not isinstance(event.get("data"), dict):
            raise InvalidEvent(f"{kind} event without a 'data' object")
        if "old" in event and not isinstance(event["old"], dict):
            raise InvalidEvent("'old' is not an object")
    return event


def event_identity(env: str, event: dict[str, Any], raw: bytes | str) -> str:
    """A deterministic id for an event, the same each time Maxwell replays it.

    Binlog coordinates (position or GTID, plus xid and xoffset) when Maxwell gives them, else a
    hash of the line itself.
    """
    where = event.get("position") or event.get("gtid")
    if where and "xid" in event:
        return bounded_id(f"{env}:{where}:{event['xid']}:{event.get('xoffset', 0)}")
    raw_bytes = raw.encode() if isinstance(raw, str) else raw
    return f"{env}:sha1:{hashlib.sha1(raw_bytes.strip()).hexdigest()}"


def bounded_id(identity: str, limit: int = ID_MAX) -> str:
    """``identity`` if it fits the hub's event ids, else its start and its SHA-256: never cut,
    which would make two different events one (the second dropped as a redelivery)."""
    if len(identity) <= limit:
        return identity
    return f"{identity[: limit - 73]}..sha256:{hashlib.sha256(identity.encode()).hexdigest()}"


def raw_text(raw: bytes) -> str:
    """Text to keep for a rejected line: undecodable bytes and NUL (which PostgreSQL text cannot
    hold) shown as escapes, long lines cut."""
    text = raw[:MAX_RAW_KEPT].decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")
    if len(raw) > MAX_RAW_KEPT:
        text += f"... [{len(raw) - MAX_RAW_KEPT} more bytes not kept]"
    return text
