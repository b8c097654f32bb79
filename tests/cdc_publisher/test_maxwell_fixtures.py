"""Maxwell's fixture files through ``--source binlog --output maxwell-json``, checked as Maxwell's
own MaxwellTestJSON checks them: each file's SQL runs on one connection, then every expected
object must be one of the printed rows, less ``ts``, ``xid``, ``xoffset`` and ``commit``.

Two sets of files in Maxwell's format (see maxwell_fixtures/README.md): ours, in
maxwell_fixtures/, and Maxwell's own (zendesk/maxwell, src/test/resources/sql/json/) where
MAXWELL_FIXTURES points at them, or shared/maxwell-fixtures/ beside the repository holds them.
A file that is not about the binlog's values is skipped with its reason, never passed.
"""

import json
import os
import re
from pathlib import Path

import pytest

from tests.cdc_publisher.conftest import MariaDB
from tests.cdc_publisher.test_binlog import Lines, start, stop
from tests.conftest import ROOT

OURS = Path(__file__).parent / "maxwell_fixtures"
MAXWELLS = Path(os.environ.get("MAXWELL_FIXTURES") or ROOT.parent / "shared" / "maxwell-fixtures")
# The source always prints what Maxwell prints only with its output_binlog_position,
# output_gtid_position, output_server_id and output_primary_key options: left out too.
LEFT_OUT = {"ts", "xid", "xoffset", "commit", "position", "gtid", "server_id", "primary_key"}
# Maxwell's own test runs these with binlog_row_image=MINIMAL (testRunMinimalBinlog).
MINIMAL = {"test_minimal", "minimal_row_image"}
NOT_BINLOG_VALUES = {
    "test_javascript_filters": "needs Maxwell's JavaScript filter (--javascript); the binlog source has none",
    "test_javascript_filters_rich_values": "needs Maxwell's JavaScript filter (--javascript); the binlog "
    "source has none",
    "test_row_query_log_is_on": 'needs Maxwell\'s output_row_query (a "query" field from the row-query '
    "events); the binlog source does not print it",
    "test_case_insensitive": "Maxwell's own suite does not run this file (MaxwellIntegrationTest has no "
    "runJSON for it); its lower-cased column names contradict test_column_case, which it does run",
}
JSON_LINE = re.compile(r"\s*->\s*\{")


def fixture_files() -> list:
    files = [pytest.param(path, id=f"ours/{path.name}") for path in sorted(OURS.glob("*.sql"))]
    if not MAXWELLS.is_dir():
        reason = f"Maxwell's fixture files are not at {MAXWELLS} (set MAXWELL_FIXTURES)"
        return [*files, pytest.param(None, id="maxwell", marks=pytest.mark.skip(reason=reason))]
    for path in sorted(MAXWELLS.iterdir()):
        if path.suffix == ".javascript":  # the filters some files load, not fixtures
            continue
        reason = NOT_BINLOG_VALUES.get(path.name)
        if path.name.startswith("bootstrap-"):
            reason = (
                "a bootstrap fixture: Maxwell's bootstrapper SELECTs the rows there are; the binlog "
                "source reads only the binlog"
            )
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        files.append(pytest.param(path, id=f"maxwell/{path.name}", marks=marks))
    return files


def parse_fixture(text: str) -> tuple[list[str], list[dict]]:
    """SQL statements and expected objects, read as MaxwellTestJSON.parseJSONTestFile reads them:
    blank lines skipped, an indented line continues the one before, ``-> {`` starts an object."""
    statements, expected = [], []
    buffer, is_json = None, False

    def close() -> None:
        (expected.append(loads_lenient(buffer)) if is_json else statements.append(buffer))

    for line in text.splitlines():
        if not line.strip():
            continue
        if buffer is not None:
            if line[:1].isspace() and not JSON_LINE.match(line):
                buffer += " " + line.strip()
                continue
            close()
        is_json = bool(JSON_LINE.match(line))
        buffer = re.sub(r"^\s*->\s*", "", line) if is_json else line
    if buffer is not None:
        close()
    return statements, expected


def loads_lenient(text: str) -> dict:
    """JSON with unquoted keys, as Jackson's ALLOW_UNQUOTED_FIELD_NAMES reads it."""
    quoted = re.sub(
        r'"(?:\\.|[^"\\])*"|([{,]\s*)([A-Za-z_$][\w$]*)(\s*:)',
        lambda m: m.group(0) if m.group(2) is None else f'{m.group(1)}"{m.group(2)}"{m.group(3)}',
        text,
    )
    return json.loads(quoted)


def canonical(row: dict) -> str:
    # Exact, as Java's equals is: 1 and 1.0, or "1" and 1, are different values.
    return json.dumps({k: v for k, v in row.items() if k not in LEFT_OUT}, sort_keys=True)


def start_server(*options: str):
    server = MariaDB(*options)
    server.start()
    # What Maxwell's test server has: a `test` database; and the table that marks a file's end.
    server.execute(
        "CREATE DATABASE IF NOT EXISTS test",
        "CREATE DATABASE harness",
        "CREATE TABLE harness.done (id INT AUTO_INCREMENT PRIMARY KEY, fixture VARCHAR(200))",
    )
    return server


@pytest.fixture(scope="module")
def full_server():
    server = start_server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def minimal_server():
    server = start_server("--binlog-row-image=MINIMAL")
    yield server
    server.stop()


@pytest.mark.parametrize("path", fixture_files())
def test_the_fixture_prints_what_maxwell_prints(path, request, tmp_path):
    # Given a fixture file, and the source printing Maxwell JSON from a server with binlog on
    statements, expected = parse_fixture(path.read_text())
    assert expected, f"{path.name} expects nothing: not a fixture"
    server = request.getfixturevalue("minimal_server" if path.stem in MINIMAL else "full_server")
    proc = start(server, tmp_path, "--output", "maxwell-json")
    lines = Lines(proc)
    printed = []
    try:
        # When its statements run on one connection (its USE and SET apply to those after them)
        with server.connect() as conn, conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
            cursor.execute("INSERT INTO harness.done (fixture) VALUES (%s)", (path.name,))
        while not printed or printed[-1].get("data", {}).get("fixture") != path.name:
            printed += lines.take(1)
    finally:
        stop(proc)

    # Then every object it expects is among the rows printed
    got = {canonical(row) for row in printed}
    missing = [row for row in expected if canonical(row) not in got]
    assert not missing, (
        "not printed:\n"
        + "\n".join(map(canonical, missing))
        + "\n\nprinted:\n"
        + "\n".join(map(canonical, printed))
    )
