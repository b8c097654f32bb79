"""Parsing Maxwell's JSON lines: the one definition of a valid change event, used by the
publisher before sending and by the hub before processing."""

import hashlib
import re
from typing import Any

from cdc_publisher import exactjson

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
# MySQL's JSON documents nest at most 100 levels, and the event puts a column 2 levels down; past
# this the hub could neither store a value (orjson writes 254) nor render it back safely.
MAX_DEPTH = 128
MAX_LINE_BYTES = 16 * 1024 * 1024  # the publisher's --max-line-bytes default; the hub's own bound
# A JSON escape of a UTF-16 surrogate: only a lone one survives parsing, and no UTF-8 text
# (PostgreSQL's included) can hold it.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # U+D800 to U+DFFF
SURROGATE_BYTES = re.compile(SURROGATE_ESCAPE.pattern.encode())


class InvalidEvent(ValueError):
    """A line that is not a valid Maxwell event; the message says why."""


def parse_event(raw: bytes | str, max_bytes: int = MAX_LINE_BYTES) -> dict[str, Any]:
    """Parse and validate one Maxwell line; raise InvalidEvent with a reason if it is not one.

    Row events need ``database``, ``table``, ``type`` and a ``data`` object (updates may carry
    ``old``); bootstrap control and DDL events need ``database`` and ``type`` and are accepted
    as they are. Every line must also be something the hub can store and render: at most
    ``max_bytes`` long, names that fit MySQL's, nesting of at most MAX_DEPTH levels, text that
    is valid Unicode. Numbers are exact (see exactjson).
    """
    size = len(raw)
    if isinstance(raw, str) and size * 4 > max_bytes:  # a character is 1 to 4 bytes of UTF-8
        size = len(raw.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise InvalidEvent(f"line of {size:,} bytes, over the bound of {max_bytes:,} bytes")
    try:
        event = exactjson.loads(raw)
    except RecursionError:
        raise InvalidEvent(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, NaN, an integer Python cannot read
        if "integer string conversion" in str(exc):
            raise InvalidEvent("an integer of more than 4,300 digits (Python's limit)") from None
        raise InvalidEvent(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise InvalidEvent(f"not a JSON object but {type(event).__name__}")
    check_storable(event, raw)
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        raise InvalidEvent("missing 'type'")
    if kind not in KNOWN_TYPES:
        raise InvalidEvent(f"unknown type {kind[:100]!r}")
    if not isinstance(event.get("database"), str) or not event["database"]:
        raise InvalidEvent("missing 'database'")
    for name in ("database", "table"):
        value = event.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidEvent(f"'{name}' is a {json_type(value)}, not a string")
        if value is not None and len(value) > NAME_MAX:
            raise InvalidEvent(f"'{name}' longer than {NAME_MAX} characters (MySQL's limit)")
    if kind in ROW_TYPES:
        if not event.get("table"):
            raise InvalidEvent("missing 'table'")
        if not isinstance(event.get("data"), dict):
            raise InvalidEvent(f"{kind} event without a 'data' object")
        if "old" in event and not isinstance(event["old"], dict):
            raise InvalidEvent("'old' is not an object")
    return event


def check_storable(event: dict[str, Any], raw: bytes | str) -> None:
    """Raise InvalidEvent if the parsed line nests deeper than MAX_DEPTH or holds a lone
    surrogate. Walks the value only when the text says it might (brackets, an escape)."""
    if isinstance(raw, bytes | bytearray):
        deep = raw.count(b"{") + raw.count(b"[") > MAX_DEPTH
        surrogates = SURROGATE_BYTES.search(raw) is not None
    else:
        deep = raw.count("{") + raw.count("[") > MAX_DEPTH
        # Text from the broker is decoded already: a surrogate may be in it as itself.
        surrogates = SURROGATE_ESCAPE.search(raw) is not None or not (raw.isascii() or is_utf8(raw))
    if not deep and not surrogates:
        return
    stack: list[tuple[Any, int]] = [(event, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_DEPTH:
                raise InvalidEvent(f"nested deeper than {MAX_DEPTH} levels")
            stack.extend((k, depth) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                raise InvalidEvent(f"nested deeper than {MAX_DEPTH} levels")
            stack.extend((v, depth + 1) for v in value)
        elif surrogates and isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidEvent("text holds a lone UTF-16 surrogate, which is not Unicode") from None


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


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


def kept_text(text: str) -> str:
    """What is kept of a rejected line or payload that is already text: its first MAX_RAW_KEPT
    characters, saying how many more there were."""
    if len(text) <= MAX_RAW_KEPT:
        return text
    return f"{text[:MAX_RAW_KEPT]}... [{len(text) - MAX_RAW_KEPT} more characters not kept]"


def raw_text(raw: bytes, size: int | None = None) -> str:
    """Text to keep for a rejected line of ``size`` bytes (default: all of ``raw``): undecodable
    bytes and NUL (which PostgreSQL text cannot hold) shown as escapes, long lines cut."""
    size = len(raw) if size is None else size
    text = raw[:MAX_RAW_KEPT].decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")
    if size > MAX_RAW_KEPT:
        text += f"... [{size - MAX_RAW_KEPT} more bytes not kept]"
    return text
