"""Reading MySQL's or MariaDB's binlog directly (``--source binlog``), so an environment needs no
Java and no Maxwell: row events become Maxwell's JSON lines, value for value.

A transaction's rows are held until its end (XID, or COMMIT for non-transactional tables), then
emitted with Maxwell's ``xid``, ``xoffset`` and ``commit`` on the last one, and the position of
that end. The checkpoint is always a transaction's end, and advances only once the caller says
the lines were delivered (to the broker or the durable spool).

A checkpoint also says whose binlog it is in (BinlogIdentity), and is checked against the server
at start: a position in another server's binlog, or in a file since purged or reset, would have the
server fail mid-event (error 1236) on every start. It is refused with one line instead.
"""

import dataclasses
import datetime as dt
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import orjson
import pymysql
from pymysql.constants import ER
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.constants import NONE_SOURCE
from pymysqlreplication.event import (
    FormatDescriptionEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from cdc_publisher.values import maxwell_value

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


@dataclass(frozen=True)
class BinlogIdentity:
    """Whose binlog a position is in. ``server_uuid`` (MySQL; MariaDB has none) and ``server_id``
    tell the server; ``log_file_created``, the timestamp of the file's first event (its
    Format_description), tells the file from one of the same name written after a RESET MASTER or
    by a re-created server, which ``server_id`` (often 1 everywhere) cannot. MariaDB's
    ``server_uid`` is not used: it hashes a MAC address, which a container gets anew at each start."""

    server_id: int
    server_uuid: str | None
    log_file_created: int | None  # seconds since the epoch


@dataclass
class ServerState:
    """What the server says at start: who it is, and its binlog files with their sizes."""

    server_id: int
    server_uuid: str | None
    logs: dict[str, int]  # file name -> size, oldest first; the last is being written

    @property
    def current(self) -> Position:
        log_file = list(self.logs)[-1]
        return Position(log_file, self.logs[log_file])


class CheckpointRefused(Exception):
    """The checkpoint does not fit the server (or cannot be read): one line for the operator."""


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
    """The last delivered transaction's end and whose binlog it is in, in a small JSON file
    replaced atomically: ``log_file``, ``log_pos``, ``server_id``, ``server_uuid`` (null on
    MariaDB) and ``log_file_created``. A file from an older publisher has only the position: it
    loads, with no identity (see BinlogSource.start_from)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.last: Position | None = None
        self.identity: BinlogIdentity | None = None

    def load(self) -> Position | None:
        if not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text())
            self.last = Position(str(data["log_file"]), int(data["log_pos"]))
            if "server_id" in data:
                created = data.get("log_file_created")
                self.identity = BinlogIdentity(
                    int(data["server_id"]), data.get("server_uuid"), None if created is None else int(created)
                )
        except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
            raise CheckpointRefused(
                f"checkpoint {self.path} cannot be read ({type(exc).__name__}: {exc}); "
                "start with --from-current to read from the server's current position "
                "(events since the checkpoint are then skipped)"
            ) from None
        return self.last

    def record(self) -> dict[str, Any] | None:
        """What the file holds (also sent with each batch, for the hub's status of publishers)."""
        if self.last is None:
            return None
        identity = dataclasses.asdict(self.identity) if self.identity else {}
        return {"log_file": self.last.log_file, "log_pos": self.last.log_pos, **identity}

    def save(self, position: Position, identity: BinlogIdentity) -> None:
        if position == self.last and identity == self.identity:
            return
        self.last, self.identity = position, identity
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.record()))
        with temporary.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(temporary, self.path)


class FileNotingStream(BinLogStreamReader):
    """The binlog stream, noting each file's creation (its Format_description event, which the
    server sends first and again after every rotation) in ``created`` for the checkpoint's
    identity. Those events are not passed on."""

    def __init__(self, *args: Any, created: dict[str, int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.created = created

    def fetchone(self):
        while isinstance(event := super().fetchone(), FormatDescriptionEvent):
            self.created[self.log_file] = event.timestamp
        return event


class BinlogSource:
    """Yields (Maxwell JSON line, end position of its transaction) for every row change, and
    (None, None) when the server has been quiet for ``heartbeat`` seconds."""

    def __init__(
        self, url: str, *, server_id: int, start: Position | None = None, heartbeat: float = 1.0
    ) -> None:
        self.settings = parse_mysql_url(url)
        self.server_id, self.start, self.heartbeat = server_id, start, heartbeat
        self._json_columns: dict[tuple[str, str], frozenset[str]] = {}
        self.server: ServerState | None = None
        self.created: dict[str, int] = {}  # binlog file -> its creation (FileNotingStream)

    @property
    def address(self) -> str:
        return f"{self.settings['host']}:{self.settings['port']}"

    def start_from(self, checkpoint: Checkpoint, *, from_current: bool = False) -> Position:
        """Where reading starts: the checkpoint, once checked against the server, or (first run,
        or ``from_current``) the server's current position, written to the checkpoint at once.
        Raises CheckpointRefused with one line naming the checkpoint and the way out; a
        checkpoint without identity (an older publisher's) is checked as far as it can be, then
        given this server's. pymysql.Error if the server cannot be asked."""
        self.server = server = self.server_state()
        saved = checkpoint.load() if not from_current else None
        if saved is None:
            start = server.current
            if from_current and checkpoint.path.exists():
                say(
                    f"--from-current: starting at {start}, the current position of {self.address}; "
                    f"the events between the checkpoint in {checkpoint.path} and there are SKIPPED "
                    "and will not reach the hub"
                )
        else:
            problem = checkpoint_problem(
                saved, checkpoint.identity, server, self.file_created, self.on_event_boundary
            )
            if problem:
                raise CheckpointRefused(
                    f"checkpoint {checkpoint.path} refused: {problem}. Start with --from-current to "
                    f"read from the current position of {self.address} (the events in between are "
                    "skipped), or point --checkpoint elsewhere"
                )
            start = saved
        self.file_created(start.log_file)
        identity = self.identity_of(start.log_file)
        if saved is not None and checkpoint.identity is None:
            say(
                f"checkpoint {checkpoint.path} has no server identity (an older publisher's): its "
                f"position fits {self.address}, whose identity it now records ({describe(identity)})"
            )
        checkpoint.save(start, identity)
        self.start = start
        return start

    def server_state(self) -> ServerState:
        with pymysql.connect(**self.settings, connect_timeout=5) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT @@server_id")
            (server_id,) = cursor.fetchone()
            try:
                cursor.execute("SELECT @@server_uuid")
                (server_uuid,) = cursor.fetchone()
            except pymysql.err.OperationalError as exc:
                if exc.args[0] != ER.UNKNOWN_SYSTEM_VARIABLE:  # MariaDB has none
                    raise
                server_uuid = None
            try:
                cursor.execute("SHOW BINARY LOGS")
            except pymysql.err.OperationalError as exc:
                if exc.args[0] == ER.NO_BINARY_LOGGING:
                    raise CheckpointRefused(f"binary logging is off on {self.address} (log_bin)") from None
                raise
            logs = {row[0]: int(row[1]) for row in cursor.fetchall()}
        return ServerState(int(server_id), server_uuid, logs)

    def file_created(self, log_file: str) -> int | None:
        """When ``log_file`` was begun: the timestamp of its Format_description event, read over
        replication (no statement shows it). At start only: a second connection with our
        server_id would end the one lines() reads."""
        if log_file not in self.created:
            stream = BinLogStreamReader(
                connection_settings=self.settings, server_id=self.server_id, blocking=False,
                resume_stream=True, log_file=log_file, log_pos=4, is_mariadb=False,
                only_events=[FormatDescriptionEvent],
            )  # fmt: skip
            try:
                for event in stream:
                    self.created[log_file] = event.timestamp
                    break
            finally:
                stream.close()
        return self.created.get(log_file)

    def identity_of(self, log_file: str) -> BinlogIdentity:
        """The identity of a position in ``log_file``: the server's, as it was at start, and the
        file's creation as start_from or the stream saw it."""
        assert self.server is not None, "start_from() first"
        return BinlogIdentity(self.server.server_id, self.server.server_uuid, self.created.get(log_file))

    def checkpoint_of(self, position: Position) -> dict[str, Any]:
        """A checkpoint at ``position`` as its file would hold it (contract.Checkpoint)."""
        identity = dataclasses.asdict(self.identity_of(position.log_file))
        return {"log_file": position.log_file, "log_pos": position.log_pos, **identity}

    def on_event_boundary(self, position: Position) -> bool:
        """Whether an event starts at ``position`` (or the file ends there): what the server
        needs to read on from it, rather than fail mid-event."""
        with pymysql.connect(**self.settings, connect_timeout=5) as conn, conn.cursor() as cursor:
            try:
                at = (position.log_file, position.log_pos)
                cursor.execute("SHOW BINLOG EVENTS IN %s FROM %s LIMIT 1", at)
            except pymysql.err.OperationalError as exc:
                if exc.args[0] == ER.ERROR_WHEN_EXECUTING_COMMAND:
                    return False
                raise
        return True

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
        stream = FileNotingStream(
            connection_settings=self.settings,
            server_id=self.server_id,
            blocking=True,
            resume_stream=True,  # from the checkpoint, else from the server's current position
            only_events=[
                *ROW_TYPES, QueryEvent, XidEvent, RotateEvent, MariadbGtidEvent, HeartbeatLogEvent,
                FormatDescriptionEvent,  # noted by the stream, for the checkpoint's identity
            ],
            slave_heartbeat=self.heartbeat,
            is_mariadb=False,  # file/position resume works on both (DESIGN.md)
            created=self.created,
            **start,
        )  # fmt: skip
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


def checkpoint_problem(
    saved: Position,
    identity: BinlogIdentity | None,
    server: ServerState,
    file_created: Callable[[str], int | None],
    on_event_boundary: Callable[[Position], bool],
) -> str:
    """Why reading cannot start at ``saved`` on ``server``, or '' if it can."""
    uuids = identity.server_uuid if identity else None, server.server_uuid
    if all(uuids) and uuids[0] != uuids[1]:
        return (
            f"it was written for server_uuid {identity.server_uuid}, and this server is "
            f"{server.server_uuid}: another server (re-created, or a fail-over)"
        )
    if identity and identity.server_id != server.server_id:
        return (
            f"it was written for server_id {identity.server_id}, and this server has "
            f"{server.server_id}: another server (a fail-over?)"
        )
    if saved.log_file not in server.logs:
        names = list(server.logs)
        return (
            f"its binlog file {saved.log_file} is not on the server, which has {names[0]} to "
            f"{names[-1]}: purged, or the binlog was reset (RESET MASTER)"
        )
    size = server.logs[saved.log_file]
    if saved.log_pos > size:
        return (
            f"its position {saved} is past the end of that file ({size} bytes): the binlog was "
            "reset (RESET MASTER), or this is another server"
        )
    if identity and identity.log_file_created is not None:
        created = file_created(saved.log_file)
        if created != identity.log_file_created:
            return (
                f"its {saved.log_file} was begun at {when(identity.log_file_created)}, the server's "
                f"at {when(created)}: the binlog was reset (RESET MASTER), or the server re-created"
            )
    if not on_event_boundary(saved):
        return f"no event starts at {saved}: that file is not the one it was written for"
    return ""


def when(timestamp: int | None) -> str:
    if timestamp is None:
        return "an unknown time"
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe(identity: BinlogIdentity) -> str:
    uuid = f"server_uuid {identity.server_uuid}, " if identity.server_uuid else ""
    return f"{uuid}server_id {identity.server_id}, file begun {when(identity.log_file_created)}"


def say(message: str) -> None:
    print(f"cdc_publisher: {message}", file=sys.stderr, flush=True)


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
    """Maxwell's shape for each row of a rows event (without the transaction's fields).

    Only the columns in the row image are printed, as Maxwell does: with binlog_row_image=FULL
    that is every column; with MINIMAL an insert has the columns given, a delete the key, and an
    update the changed columns, plus the key from the before image in ``data``, never in ``old``.
    """
    kind = ROW_TYPES[type(event)]
    columns = {column.name: column for column in event.columns}

    def image(values: dict[str, Any], none_sources: dict[str, str]) -> dict[str, Any]:
        return {
            name: maxwell_value(raw, columns[name], name in json_columns, none_sources.get(name))
            for name, raw in values.items()
            if none_sources.get(name) != NONE_SOURCE.COLS_BITMAP  # not in the row image
        }

    out = []
    for row in event.rows:
        base = {
            "database": event.schema,
            "table": event.table,
            "type": kind,
            "ts": event.timestamp,
            "server_id": event.packet.server_id,
        }
        if kind == "update":
            data = image(row["after_values"], row["after_none_sources"])
            old = {}
            for name, value in image(row["before_values"], row["before_none_sources"]).items():
                if name not in data:
                    data[name] = value  # MINIMAL: the before image's key says which row changed
                elif dumps(data[name]) != dumps(value):  # as printed: DECIMALs are Fragments
                    old[name] = value
        else:
            data, old = image(row["values"], row["none_sources"]), {}
        if event.primary_key:
            keys = event.primary_key if isinstance(event.primary_key, tuple) else (event.primary_key,)
            base["primary_key"] = [data.get(key) for key in keys]
        base["data"] = data
        if old:  # Maxwell leaves out an empty old
            base["old"] = old
        out.append(base)
    return out


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
