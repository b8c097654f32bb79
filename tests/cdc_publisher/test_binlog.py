"""The binlog source against a MariaDB the tests start with binlog on."""

import base64
import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.cdc_publisher.conftest import free_port
from tests.cdc_publisher.test_publisher import broker_batches
from tests.cdc_publisher.test_spool import Broker
from tests.conftest import ROOT, publisher_env, wait_for


class Lines:
    """Maxwell lines read from a process's stdout as they come."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc, self.pending, self.lines, self.raw = proc, b"", [], []

    def take(self, count: int, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.lines) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"got {len(self.lines)} of {count} lines: {self.lines}")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    pytest.fail(f"the publisher ended after {len(self.lines)} lines")
                self.pending += chunk
                *done, self.pending = self.pending.split(b"\n")
                self.raw += done
                self.lines += [json.loads(line) for line in done]
        taken, self.lines = self.lines[:count], self.lines[count:]
        return taken


def saved_position(tmp_path) -> dict:
    """The position part of the checkpoint file (it also holds the server's identity)."""
    saved = json.loads((tmp_path / "checkpoint.json").read_text())
    return {"log_file": saved["log_file"], "log_pos": saved["log_pos"]}


def start(mariadb, tmp_path, *args: str, **env: str) -> subprocess.Popen:
    checkpoint = tmp_path / "checkpoint.json"
    if not checkpoint.exists():
        checkpoint.write_text(json.dumps(mariadb.position()))
    command = [sys.executable, "-m", "cdc_publisher", "--env", "prod", "--source", "binlog"]
    return subprocess.Popen(
        [*command, "--mysql-url", mariadb.url, "--checkpoint", str(checkpoint), *args],
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "publisher.log").open("ab"),
        cwd=ROOT,
        env=publisher_env(**env),
    )


@pytest.fixture
def database(mariadb, request):
    name = "t_" + request.node.name[-40:].replace("[", "_").replace("]", "").replace("-", "_")
    mariadb.execute(f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    return name


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def test_values_follow_maxwells_mapping(mariadb, database, tmp_path):
    # Given a table with every kind of column, and the source printing Maxwell JSON
    mariadb.execute(
        f"""CREATE TABLE {database}.t (
            id BIGINT UNSIGNED PRIMARY KEY, d DECIMAL(12,4), dt DATETIME(3), t TIME(2),
            ts TIMESTAMP(6) NULL, da DATE, e ENUM('small','big'), s SET('a','b','c'), j JSON, b BLOB,
            bn BINARY(4), vb VARBINARY(8), l VARCHAR(20) CHARACTER SET latin1,
            g VARCHAR(20) CHARACTER SET gbk, b5 VARCHAR(20) CHARACTER SET big5, n INT NULL, f DOUBLE)"""
    )
    proc = start(mariadb, tmp_path, "--output", "maxwell-json")
    lines = Lines(proc)
    try:
        # When a row is inserted, then updated
        mariadb.execute(
            f"""INSERT INTO {database}.t VALUES (18446744073709551615, 12345678.1250,
                '2024-01-02 03:04:05.120', '12:34:56.70', '2024-05-06 07:08:09.123456', '2024-02-29',
                'big', 'c,a', '{{"k":[1,2,{{"x":null}}]}}', X'00FF10', X'01020304', X'FFFE', 'café',
                '中文', '繁體', NULL, 1.5)""",
            f"UPDATE {database}.t SET d = 0.5, e = 'small' WHERE id = 18446744073709551615",
        )
        insert, update = lines.take(2)
    finally:
        stop(proc)

    # Then the values are Maxwell's
    assert insert["type"] == "insert" and insert["database"] == database and insert["table"] == "t"
    assert insert["data"] == {
        "id": 18446744073709551615,
        "d": 12345678.125,  # exact on the wire; see the raw check below
        "dt": "2024-01-02 03:04:05.120",
        "t": "12:34:56.70",
        "ts": "2024-05-06 07:08:09.123456",
        "da": "2024-02-29",
        "e": "big",
        "s": ["a", "c"],
        "j": {"k": [1, 2, {"x": None}]},
        "b": base64.b64encode(b"\x00\xff\x10").decode(),
        "bn": base64.b64encode(b"\x01\x02\x03\x04").decode(),
        "vb": base64.b64encode(b"\xff\xfe").decode(),
        "l": "café",
        "g": "中文",
        "b5": "繁體",
        "n": None,
        "f": 1.5,
    }
    assert insert["primary_key"] == [18446744073709551615]
    assert insert["commit"] is True and insert["xoffset"] == 0 and isinstance(insert["xid"], int)
    assert update["old"] == {"d": 12345678.125, "e": "big"}, "old holds only the columns that changed"
    assert update["data"]["d"] == 0.5


def test_decimals_are_exact_on_the_wire(mariadb, database, tmp_path):
    mariadb.execute(f"CREATE TABLE {database}.m (id INT PRIMARY KEY, amount DECIMAL(30,10))")
    proc = start(mariadb, tmp_path, "--output", "maxwell-json")
    lines = Lines(proc)
    try:
        mariadb.execute(f"INSERT INTO {database}.m VALUES (1, 12345678901234567890.0123456789)")
        lines.take(1)
    finally:
        stop(proc)
    assert b'"amount":12345678901234567890.0123456789' in lines.raw[-1], lines.raw[-1]


def test_it_survives_columns_added_renamed_and_dropped(mariadb, database, tmp_path):
    mariadb.execute(f"CREATE TABLE {database}.c (id INT PRIMARY KEY, a INT)")
    proc = start(mariadb, tmp_path, "--output", "maxwell-json")
    lines = Lines(proc)
    try:
        mariadb.execute(
            f"INSERT INTO {database}.c VALUES (1, 10)",
            f"ALTER TABLE {database}.c ADD COLUMN b VARCHAR(5) DEFAULT 'x'",
            f"INSERT INTO {database}.c VALUES (2, 20, 'y')",
            f"ALTER TABLE {database}.c RENAME COLUMN a TO a2",
            f"INSERT INTO {database}.c VALUES (3, 30, 'z')",
            f"ALTER TABLE {database}.c DROP COLUMN b",
            f"INSERT INTO {database}.c VALUES (4, 40)",
        )
        got = lines.take(7)  # 4 rows, 3 schema changes (the CREATE is before the checkpoint)
    finally:
        assert stop(proc) == 0
    rows = [line["data"] for line in got if line["type"] == "insert"]
    ddl = [line["type"] for line in got if line["type"] != "insert"]
    assert ddl == ["table-alter", "table-alter", "table-alter"]
    assert rows == [
        {"id": 1, "a": 10},
        {"id": 2, "a": 20, "b": "y"},
        {"id": 3, "a2": 30, "b": "z"},
        {"id": 4, "a2": 40},
    ]


def test_it_publishes_and_resumes_from_its_checkpoint(mariadb, database, tmp_path, broker):
    # Given the source publishing to the hub's broker
    mariadb.execute(f"CREATE TABLE {database}.r (id INT PRIMARY KEY)")
    proc = start(mariadb, tmp_path)
    mariadb.execute(f"INSERT INTO {database}.r VALUES (1), (2)", f"INSERT INTO {database}.r VALUES (3)")

    def ids() -> list[int]:
        return [
            json.loads(raw)["data"]["id"]
            for b in broker_batches()
            for _, raw in b["events"]
            if '"insert"' in raw
        ]

    wait_for(lambda: ids() == [1, 2, 3], timeout=30, message="three rows published")
    assert stop(proc) == 0
    assert saved_position(tmp_path) == mariadb.position(), "the checkpoint is the last delivered end"
    batch = broker_batches()[0]
    assert batch["source"] == "binlog"

    # When rows change while it is stopped, and it starts again
    mariadb.execute(f"INSERT INTO {database}.r VALUES (4)")
    proc = start(mariadb, tmp_path)
    try:
        # Then it goes on from the checkpoint: the new row, nothing twice
        wait_for(lambda: ids() == [1, 2, 3, 4], timeout=30, message="the row made while stopped")
    finally:
        stop(proc)


def test_the_checkpoint_waits_for_the_broker(mariadb, database, tmp_path):
    # Given the source publishing to a broker that is down
    own = Broker(free_port())
    mariadb.execute(f"CREATE TABLE {database}.w (id INT PRIMARY KEY)")
    proc = start(mariadb, tmp_path, CELERY_BROKER_URL=own.url)
    try:
        before = saved_position(tmp_path)
        mariadb.execute(f"INSERT INTO {database}.w VALUES (1)")
        wait_for(
            lambda: b"the broker did not take a batch" in (tmp_path / "publisher.log").read_bytes(),
            message="down noticed",
        )
        time.sleep(1)

        # Then the checkpoint does not move
        assert saved_position(tmp_path) == before

        # When the broker comes up, then the row arrives and the checkpoint moves past it
        own.start()
        wait_for(lambda: own.client.llen("cdc:prod") > 0, timeout=30, message="row published")
        wait_for(
            lambda: saved_position(tmp_path) == mariadb.position(),
            message="moved",
        )
    finally:
        stop(proc)
        if own.proc:
            own.stop()
