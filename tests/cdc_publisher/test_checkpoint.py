"""The binlog checkpoint knows its server: a checkpoint that does not fit the server it is pointed
at is refused at start with one line, and --from-current recovers. Against MariaDBs the tests
start; RESET MASTER and the second server are on servers of the test's own."""

import json
import subprocess
import sys

import pytest

from tests.cdc_publisher.conftest import MariaDB
from tests.cdc_publisher.test_binlog import Lines, stop
from tests.cdc_publisher.test_publisher import broker_batches
from tests.conftest import ROOT, publisher_env, wait_for


@pytest.fixture
def new_mariadb():
    """Start MariaDBs of the test's own (each with server_id 1, like most single servers)."""
    started = []

    def start() -> MariaDB:
        server = MariaDB()
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def command(mariadb: MariaDB, checkpoint, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "cdc_publisher", "--env", "prod", "--source", "binlog",
        "--output", "maxwell-json", "--mysql-url", mariadb.url, "--checkpoint", str(checkpoint), *args,
    ]  # fmt: skip


def follow(mariadb: MariaDB, checkpoint, tmp_path, *args: str) -> subprocess.Popen:
    """The source printing Maxwell lines, its stderr in publisher.log."""
    return subprocess.Popen(
        command(mariadb, checkpoint, *args),
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "publisher.log").open("ab"),
        cwd=ROOT,
        env=publisher_env(),
    )


def refusal(mariadb: MariaDB, checkpoint) -> str:
    """Start the source, expecting it to refuse at once: its one line on stderr."""
    result = subprocess.run(
        command(mariadb, checkpoint), capture_output=True, cwd=ROOT, env=publisher_env(), timeout=60
    )
    stderr = result.stderr.decode()
    assert result.returncode == 2, f"exit {result.returncode}, expected a refusal (2): {stderr}"
    assert "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, f"not one line: {stderr}"
    assert str(checkpoint) in stderr and "--from-current" in stderr, f"no file or fix named: {stderr}"
    return stderr


def saved(checkpoint) -> dict:
    return json.loads(checkpoint.read_text())


def position_of(checkpoint) -> dict:
    return {k: saved(checkpoint)[k] for k in ("log_file", "log_pos")}


def written(mariadb: MariaDB, checkpoint, tmp_path) -> dict:
    """A checkpoint as the source writes it: started with none, it writes the server's current
    position and identity at once."""
    proc = follow(mariadb, checkpoint, tmp_path)
    try:
        wait_for(checkpoint.exists, timeout=30, message="checkpoint written at start")
    finally:
        assert stop(proc) == 0
    return saved(checkpoint)


def row_arrives(mariadb: MariaDB, checkpoint, tmp_path, value: int, *args: str) -> None:
    """Start the source (with ``args``), write a row, and see it come out."""
    mariadb.execute("CREATE DATABASE IF NOT EXISTS ck", "CREATE TABLE IF NOT EXISTS ck.r (id INT)")
    proc = follow(mariadb, checkpoint, tmp_path, *args)
    try:
        # the checkpoint is written at start: once it has the current position, the row is after it
        wait_for(
            lambda: checkpoint.exists() and position_of(checkpoint) == mariadb.position(),
            timeout=30,
            message="started",
        )
        mariadb.execute(f"INSERT INTO ck.r VALUES ({value})")
        lines = Lines(proc)
        while (row := lines.take(1)[0])["type"] != "insert":
            pass  # a schema change first: CREATE TABLE IF NOT EXISTS is logged even when it exists
        # the row's transaction is known whole at the next quiet heartbeat, then saved
        wait_for(lambda: position_of(checkpoint) == mariadb.position(), timeout=30, message="saved")
    finally:
        assert stop(proc) == 0
    assert (row["database"], row["data"]) == ("ck", {"id": value}), row


def recovers_with_from_current(mariadb: MariaDB, checkpoint, tmp_path) -> None:
    """--from-current says loudly what it skips and reads on from the current position, and
    the next plain start accepts the checkpoint it left."""
    row_arrives(mariadb, checkpoint, tmp_path, 7, "--from-current")
    log = (tmp_path / "publisher.log").read_text()
    assert "SKIPPED" in log and str(checkpoint) in log, f"the skip not said: {log}"
    assert position_of(checkpoint) == mariadb.position(), "the checkpoint is where it read to"
    row_arrives(mariadb, checkpoint, tmp_path, 8)


def grow_past(mariadb: MariaDB, log_pos: int) -> None:
    """Write until the server's current binlog file is longer than ``log_pos``."""
    mariadb.execute("CREATE DATABASE IF NOT EXISTS filler", "CREATE TABLE IF NOT EXISTS filler.f (v TEXT)")
    while mariadb.position()["log_pos"] <= log_pos:
        mariadb.execute("INSERT INTO filler.f VALUES (REPEAT('x', 100))")


def server_clock(mariadb: MariaDB) -> int:
    with mariadb.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT UNIX_TIMESTAMP()")
        return int(cursor.fetchone()[0])


def test_the_checkpoint_records_the_server_and_the_files_creation(mariadb, tmp_path):
    # Given no checkpoint yet
    checkpoint = tmp_path / "checkpoint.json"

    # When the source starts
    state = written(mariadb, checkpoint, tmp_path)

    # Then the checkpoint holds the current position and whose binlog it is in
    assert position_of(checkpoint) == mariadb.position()
    assert state["server_id"] == 1 and state["server_uuid"] is None, f"MariaDB: server_id, no uuid: {state}"
    assert isinstance(state["log_file_created"], int) and state["log_file_created"] > 0, state


def test_the_checkpoint_follows_a_new_binlog_file_with_its_creation(mariadb, tmp_path):
    # Given the source running from a checkpoint it wrote
    checkpoint = tmp_path / "checkpoint.json"
    before = written(mariadb, checkpoint, tmp_path)
    mariadb.execute("CREATE DATABASE IF NOT EXISTS ck", "CREATE TABLE IF NOT EXISTS ck.r (id INT)")
    proc = follow(mariadb, checkpoint, tmp_path)
    try:
        # When the server begins a new binlog file and a row is written to it
        mariadb.execute("FLUSH BINARY LOGS", "INSERT INTO ck.r VALUES (1)")
        Lines(proc).take(1)
        # (in the new file: MariaDB may write its Binlog_checkpoint event there after the row, so
        # the server's position can pass the row's transaction end, where the checkpoint stops)
        new_file = mariadb.position()["log_file"]
        wait_for(lambda: position_of(checkpoint)["log_file"] == new_file, timeout=30, message="saved")
    finally:
        assert stop(proc) == 0

    # Then the checkpoint is in the new file, with that file's creation (seen in the stream)
    after = saved(checkpoint)
    assert after["log_file"] != before["log_file"], after
    assert isinstance(after["log_file_created"], int), f"the new file's creation is missing: {after}"
    # and the next start accepts it
    row_arrives(mariadb, checkpoint, tmp_path, 2)


def test_a_checkpoint_from_before_reset_master_is_refused(new_mariadb, tmp_path):
    # Given a checkpoint the source wrote on a server
    server = new_mariadb()
    checkpoint = tmp_path / "checkpoint.json"
    row_arrives(server, checkpoint, tmp_path, 1)
    state = saved(checkpoint)

    # When, a second or more later, the binlog is reset and grows past the checkpoint again
    wait_for(lambda: server_clock(server) > state["log_file_created"], timeout=5, message="a second on")
    server.execute("RESET MASTER")
    grow_past(server, state["log_pos"])
    assert server.position()["log_file"] == state["log_file"], "the same file name, begun anew"

    # Then the source refuses it in one line, saying why
    assert "RESET MASTER" in refusal(server, checkpoint)
    # and --from-current recovers
    recovers_with_from_current(server, checkpoint, tmp_path)


def test_a_checkpoint_in_a_purged_file_is_refused(mariadb, tmp_path):
    # Given a checkpoint the source wrote
    checkpoint = tmp_path / "checkpoint.json"
    state = written(mariadb, checkpoint, tmp_path)

    # When its file is purged
    mariadb.execute("FLUSH BINARY LOGS")
    mariadb.execute(f"PURGE BINARY LOGS TO '{mariadb.position()['log_file']}'")

    # Then the source refuses it, naming the file
    stderr = refusal(mariadb, checkpoint)
    assert f"{state['log_file']} is not on the server" in stderr and "purged" in stderr, stderr
    # and --from-current recovers
    recovers_with_from_current(mariadb, checkpoint, tmp_path)


def test_a_position_past_the_files_end_is_refused(mariadb, tmp_path):
    # Given a checkpoint whose position is past the end of its file (its identity right)
    checkpoint = tmp_path / "checkpoint.json"
    state = written(mariadb, checkpoint, tmp_path)
    checkpoint.write_text(json.dumps({**state, "log_pos": state["log_pos"] + 1000}))

    # Then the source refuses it
    assert "past the end of that file" in refusal(mariadb, checkpoint)
    # and --from-current recovers
    recovers_with_from_current(mariadb, checkpoint, tmp_path)


def test_a_checkpoint_from_another_server_is_refused(new_mariadb, tmp_path):
    # Given a checkpoint the source wrote on one server
    first = new_mariadb()
    checkpoint = tmp_path / "checkpoint.json"
    row_arrives(first, checkpoint, tmp_path, 1)
    state = saved(checkpoint)

    # When it is pointed at another server, begun later, with the same server_id and file name,
    # whose binlog is longer than the checkpoint's position
    wait_for(lambda: server_clock(first) > state["log_file_created"], timeout=5, message="a second on")
    second = new_mariadb()
    grow_past(second, state["log_pos"])
    assert second.position()["log_file"] == state["log_file"]

    # Then the source refuses it: the file is not the one it was written in
    assert "re-created" in refusal(second, checkpoint)
    # and, once the other server has another server_id (a fail-over to a replica), says that
    second.execute("SET GLOBAL server_id = 2")
    assert "server_id 1, and this server has 2" in refusal(second, checkpoint)
    # and --from-current recovers
    recovers_with_from_current(second, checkpoint, tmp_path)


def test_a_checkpoint_without_identity_that_fits_is_given_the_servers(mariadb, tmp_path):
    # Given a checkpoint an older publisher wrote: only a position, and a good one
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_text(json.dumps(mariadb.position()))

    # When the source starts, then it reads on from there, says so, and records the identity
    row_arrives(mariadb, checkpoint, tmp_path, 3)
    assert "has no server identity" in (tmp_path / "publisher.log").read_text()
    assert saved(checkpoint)["server_id"] == 1 and saved(checkpoint)["log_file_created"]


def test_a_checkpoint_without_identity_that_does_not_fit_is_refused(mariadb, tmp_path):
    # Given an older publisher's checkpoint whose position is not an event's start
    mariadb.execute("CREATE DATABASE IF NOT EXISTS ck", "CREATE TABLE IF NOT EXISTS ck.r (id INT)")
    mariadb.execute("INSERT INTO ck.r VALUES (1)")
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_text(json.dumps({**mariadb.position(), "log_pos": mariadb.position()["log_pos"] - 3}))

    # Then the source refuses it rather than have the server fail mid-event (error 1236)
    assert "no event starts at" in refusal(mariadb, checkpoint)


def test_an_unreadable_checkpoint_is_refused(mariadb, tmp_path):
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_text('{"log_file": "mysql-bin.000001", "log_po')
    assert "cannot be read" in refusal(mariadb, checkpoint)


def test_each_batch_carries_the_checkpoint_it_leads_to(mariadb, tmp_path, broker):
    # Given the source publishing to the hub's broker from a checkpoint it wrote
    checkpoint = tmp_path / "checkpoint.json"
    written(mariadb, checkpoint, tmp_path)
    mariadb.execute("CREATE DATABASE IF NOT EXISTS ck", "CREATE TABLE IF NOT EXISTS ck.r (id INT)")
    publish = [arg for arg in command(mariadb, checkpoint) if arg not in ("--output", "maxwell-json")]
    proc = subprocess.Popen(publish, cwd=ROOT, env=publisher_env())
    try:
        # When a row is written and delivered
        mariadb.execute("INSERT INTO ck.r VALUES (1)")
        wait_for(lambda: position_of(checkpoint) == mariadb.position(), timeout=30, message="delivered")
    finally:
        assert stop(proc) == 0

    # Then the last batch carries the checkpoint as the file holds it once it is delivered
    last = broker_batches()[-1]
    assert last["checkpoint"] == saved(checkpoint), f"{last.get('checkpoint')} vs {saved(checkpoint)}"
