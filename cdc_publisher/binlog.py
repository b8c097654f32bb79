"""Reading MySQL's or MariaDB's binlog directly (``--source binlog``), so an environment needs no
Java and no Maxwell: row events become Maxwell's JSON lines, value for value.

A transaction's rows are held until its end (XID, or COMMIT for non-transactional tables), then
emitted with Maxwell's ``xid``, ``xoffset`` and ``commit`` on the last one, and the position of
that end. The checkpoint is always a transaction's end, and advances only once the caller says
the lines were delivered (to the broker or the durable spool).
"""

import base64
import datetime as dt
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import orjson
import pymysql
from pymysql.constants import ER
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.constants import FIELD_TYPE
from pymysqlreplication.event import HeartbeatLogEvent, MariadbGtidEvent, QueryEvent, RotateEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

ROW_TYPES = {WriteRowsEvent: "insert", UpdateRowsEvent: "update", DeleteRowsEvent: "delete"}
DDL = re.compile(
    r"^\s*(?P<verb>create|alter|drop|rename)\s+(?:temporary\s+)?(?P<what>table|database|schema)\s+"
    r"(?:if\s+(?:not\s+)?exists\s+)?(?P<name>[`\w.]+)",
    re.IGNORECASE,
)


@dataclass
class Position:
    log_file: str
    log_pos: int

    def __str__(self) -> str:
        return f"{self.log_file}:{self.log_pos}"


@dataclass
class Transaction:
    rows: list[dict[str, Any]] = field(default_factory=list)
    gtid: str | None = None


def parse_mysql_url(url: str) -> dict[str, Any]:
    """``mysql://USER:PASS@HOST:PORT/`` as pymysql connection settings."""
    parts = urlparse(url)
    if parts.scheme not in ("mysql", "mariadb") or not parts.hostname:
        raise ValueError(
            f"not a mysql://USER:PASS@HOST:PORT/ URL: {parts.scheme}://{parts.hostname or ''}..."
        )
    return {
        "host": parts.hostname,
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "passwd": unquote(parts.password or ""),
    }


class Progress:
    """Which transaction ends have been handed over whole: lines of one transaction share its
    end position, so when a line with a new end comes, the one before is complete."""

    def __init__(self) -> None:
        self.current: Position | None = None
        self.complete: Position | None = None

    def line(self, end: Position) -> None:
        if end != self.current:
            self.complete, self.current = self.current, end

    def quiet(self) -> None:
        self.complete = self.current


class Checkpoint:
    """The last delivered transaction's end, in a small file replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.last: Position | None = None

    def load(self) -> Position | None:
        if not self.path.exists():
            return None
        data = json.loads(self.path.read_text())
        self.last = Position(data["log_file"], int(data["log_pos"]))
        return self.last

    def save(self, position: Position) -> None:
        if position == self.last:
            return
        self.last = position
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"log_file": position.log_file, "log_pos": position.log_pos}))
        with temporary.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(temporary, self.path)


class BinlogSource:
    """Yields (Maxwell JSON line, end position of its transaction) for every row change, and
    (None, None) when the server has been quiet for ``heartbeat`` seconds."""

    def __init__(self, url: str, *, server_id: int, start: Position | None, heartbeat: float = 1.0) -> None:
        self.settings = parse_mysql_url(url)
        self.server_id, self.start, self.heartbeat = server_id, start, heartbeat
        self._json_columns: dict[tuple[str, str], frozenset[str]] = {}

    def json_columns(self, schema: str, table: str) -> frozenset[str]:
        """MariaDB's JSON is LONGTEXT with a json_valid() check, invisible in the binlog: the
        columns that carry one, so their values go out nested as MySQL's native JSON does."""
        key = (schema, table)
        if key not in self._json_columns:
            names: set[str] = set()
            try:
                with pymysql.connect(**self.settings, connect_timeout=5) as conn, conn.cursor() as cursor:
                    cursor.execute(
                        "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                        "WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s AND CHECK_CLAUSE LIKE %s",
                        (schema, table, "json_valid(%"),
                    )
                    for (clause,) in cursor.fetchall():
                        found = re.match(r"json_valid\(`?(\w+)`?\)", clause)
                        if found:
                            names.add(found.group(1))
            except pymysql.Error as exc:
                if not (exc.args and exc.args[0] == ER.UNKNOWN_TABLE):
                    # Not cached: the next row of this table asks again, rather than sending its
                    # JSON as strings for the rest of the run.
                    print(f"cdc_publisher: cannot read the JSON columns of {schema}.{table}: {exc}; "
                          "sending them as text until it can", file=sys.stderr, flush=True)  # fmt: skip
                    return frozenset()
                # No CHECK_CONSTRAINTS (older MySQL): its native JSON type needs none.
            self._json_columns[key] = frozenset(names)
        return self._json_columns[key]

    def lines(self) -> Iterator[tuple[bytes | None, Position | None]]:
        start = {"log_file": self.start.log_file, "log_pos": self.start.log_pos} if self.start else {}
        stream = BinLogStreamReader(
            connection_settings=self.settings,
            server_id=self.server_id,
            blocking=True,
            resume_stream=True,  # from the checkpoint, else from the server's current position
            only_events=[*ROW_TYPES, QueryEvent, XidEvent, RotateEvent, MariadbGtidEvent, HeartbeatLogEvent],
            slave_heartbeat=self.heartbeat,
            is_mariadb=False,  # file/position resume works on both (DESIGN.md)
            **start,
        )
        transaction = Transaction()
        try:
            for event in stream:
                if isinstance(event, HeartbeatLogEvent):
                    yield None, None
                elif isinstance(event, MariadbGtidEvent):
                    transaction = Transaction(gtid=getattr(event, "gtid", None))
                elif type(event) in ROW_TYPES:
                    transaction.rows += row_events(event, self.json_columns(event.schema, event.table))
                elif isinstance(event, XidEvent):
                    yield from finish(transaction, event.xid, Position(stream.log_file, stream.log_pos))
                    transaction = Transaction()
                elif isinstance(event, QueryEvent):
                    query = (
                        event.query
                        if isinstance(event.query, str)
                        else event.query.decode("utf-8", "replace")
                    )
                    keyword = query.strip().upper()
                    if keyword == "COMMIT":  # non-transactional tables end this way
                        yield from finish(transaction, None, Position(stream.log_file, stream.log_pos))
                        transaction = Transaction()
                    elif keyword != "BEGIN":
                        ddl = ddl_event(event, query)
                        if ddl:
                            self._json_columns.pop((ddl["database"], ddl.get("table", "")), None)
                            yield dumps(ddl), Position(stream.log_file, stream.log_pos)
        finally:
            stream.close()


def finish(transaction: Transaction, xid: int | None, end: Position) -> Iterator[tuple[bytes, Position]]:
    for offset, row in enumerate(transaction.rows):
        row["xid"] = xid
        row["xoffset"] = offset
        row["position"] = str(end)
        if transaction.gtid:
            row["gtid"] = transaction.gtid
        if offset == len(transaction.rows) - 1:
            row["commit"] = True
        yield dumps(row), end


def row_events(event, json_columns: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Maxwell's shape for each row of a rows event (without the transaction's fields)."""
    kind = ROW_TYPES[type(event)]
    columns = {column.name: column for column in event.columns}

    def value(name: str, raw: Any) -> Any:
        return maxwell_value(raw, columns[name], as_json=name in json_columns)

    out = []
    for row in event.rows:
        base = {
            "database": event.schema,
            "table": event.table,
            "type": kind,
            "ts": event.timestamp,
            "server_id": event.packet.server_id,
        }
        if event.primary_key:
            keys = event.primary_key if isinstance(event.primary_key, tuple) else (event.primary_key,)
            values = row.get("after_values") or row.get("values")
            base["primary_key"] = [value(k, values[k]) for k in keys]
        if kind == "update":
            before, after = row["before_values"], row["after_values"]
            base["data"] = {name: value(name, v) for name, v in after.items()}
            base["old"] = {name: value(name, v) for name, v in before.items() if after.get(name, v) != v}
        else:
            base["data"] = {name: value(name, v) for name, v in row["values"].items()}
        out.append(base)
    return out


def maxwell_value(value: Any, column, as_json: bool = False) -> Any:
    """One column's value as Maxwell writes it (``as_json``: a MariaDB JSON column)."""
    if value is None:
        return None
    kind = column.type
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f").encode())  # exact: no float on the way
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, set):
        return [member for member in (column.set_values or sorted(value)) if member in value]
    if isinstance(value, dt.datetime):
        return format_time_of(value, column, "%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return format_duration(value, getattr(column, "fsp", 0) or 0)
    if kind == FIELD_TYPE.BIT and isinstance(value, str):
        return int(value, 2)
    if (kind == FIELD_TYPE.JSON or as_json) and isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value  # a MySQL JSON column arrives already nested


def format_time_of(value: dt.datetime, column, pattern: str) -> str:
    text = value.strftime(pattern)
    digits = getattr(column, "fsp", 0) or 0
    return f"{text}.{value.microsecond:06d}"[: len(text) + 1 + digits] if digits else text


def format_duration(value: dt.timedelta, digits: int) -> str:
    negative = value < dt.timedelta(0)
    value = -value if negative else value
    seconds = value.days * 86400 + value.seconds
    text = f"{'-' if negative else ''}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{text}.{value.microseconds:06d}"[: len(text) + 1 + digits] if digits else text


def ddl_event(event, query: str) -> dict[str, Any] | None:
    """A schema change as Maxwell's DDL event (type, database, table, sql, ts in ms)."""
    found = DDL.match(query)
    if not found:
        return None
    name = found.group("name").replace("`", "")
    schema = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
    what = "database" if found.group("what").lower() in ("database", "schema") else "table"
    verb = {"rename": "alter"}.get(found.group("verb").lower(), found.group("verb").lower())
    ddl = {"type": f"{what}-{verb}", "ts": event.timestamp * 1000, "sql": query}
    if what == "database":
        ddl["database"] = name
    else:
        database, _, table = name.rpartition(".")
        ddl["database"], ddl["table"] = database or schema, table
    return ddl if ddl["database"] else None


def dumps(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)
