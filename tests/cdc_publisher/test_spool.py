"""A publisher that loses nothing: a Redis of the test's own, stopped and started again under a
running publisher process."""

import json
import signal
import subprocess
import sys

import pytest
import redis

from cdc_publisher.spool import Spool
from tests.cdc_publisher.test_publisher import broker_batches
from tests.conftest import ROOT, free_port, publisher_env, wait_for


class Broker:
    """A redis-server the test starts and stops."""

    def __init__(self, port: int) -> None:
        self.port, self.proc = port, None
        self.url = f"redis://127.0.0.1:{port}/0"
        self.client = redis.Redis(port=port)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self.ping, timeout=20, message="redis start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()

    def ping(self) -> bool:
        try:
            return self.client.ping()
        except redis.ConnectionError:
            return False


@pytest.fixture
def own_broker():
    broker = Broker(free_port())
    broker.start()
    yield broker
    if broker.proc.poll() is None:
        broker.stop()


@pytest.fixture
def spool(tmp_path):
    """The publisher's spool directory (its stderr logs go beside it)."""
    return tmp_path / "spool"


def line(n: int) -> bytes:
    event = {"database": "shop", "table": "orders", "type": "insert", "ts": 1, "xid": n, "data": {"id": n}}
    return json.dumps(event).encode() + b"\n"


def start_publisher(broker: Broker, spool_dir, *args: str) -> subprocess.Popen:
    """A publisher process; what it says on stderr is in ``proc.said()``."""
    log = spool_dir.parent / f"{spool_dir.name}-{len(list(spool_dir.parent.glob('*.log')))}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdc_publisher", "--env", "prod", "--flush-interval", "0.2", *args],
        stdin=subprocess.PIPE,
        stderr=log.open("wb"),
        cwd=ROOT,
        env=publisher_env(CELERY_BROKER_URL=broker.url, CDC_SPOOL_DIR=str(spool_dir)),
    )
    proc.said = log.read_text
    return proc


def published_lines(broker: Broker) -> list[int]:
    """The numbers of the lines (see ``line``) that reached the broker, in order."""
    return [
        json.loads(raw)["data"]["id"] for batch in broker_batches(broker.url) for _, raw in batch["events"]
    ]


def write(proc: subprocess.Popen, numbers) -> None:
    proc.stdin.write(b"".join(line(n) for n in numbers))
    proc.stdin.flush()


def test_lines_read_while_the_broker_is_down_wait_on_disk_and_leave_in_order(own_broker, spool):
    # Given a running publisher whose first lines reached the broker
    proc = start_publisher(own_broker, spool)
    try:
        write(proc, [1, 2, 3])
        wait_for(lambda: published_lines(own_broker) == [1, 2, 3], message="first lines")

        # When the broker goes away while lines keep coming
        own_broker.stop()
        write(proc, [4, 5, 6])
        wait_for(lambda: Spool(spool, 1 << 20).pending() > 0, message="a batch spooled")
        write(proc, [7, 8, 9])
        wait_for(lambda: (spool / "batches.jsonl").read_bytes().count(b"\n") == 2, message="two spooled")

        # and comes back (empty: this Redis keeps nothing)
        own_broker.start()

        # Then the spooled batches arrive, in order, and the spool empties
        wait_for(lambda: published_lines(own_broker) == [4, 5, 6, 7, 8, 9], message="drained in order")
        wait_for(lambda: Spool(spool, 1 << 20).pending() == 0, message="spool emptied")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        err = proc.said()
        assert "the broker did not take a batch" in err and "the broker takes batches again" in err, err
        assert err.splitlines()[-1].endswith("read 9 lines: 9 events published in 3 batches, 0 rejected")
    finally:
        proc.kill()


def test_a_full_spool_stops_the_reading_instead_of_dropping(own_broker, spool):
    # Given a publisher with a spool room for about two batches, and no broker
    own_broker.stop()
    proc = start_publisher(own_broker, spool, "--batch-size", "3", "--spool-max-bytes", "900")
    try:
        # When 30 lines arrive
        write(proc, range(1, 31))

        # Then it keeps what fits and stops reading, saying so
        wait_for(lambda: "spool full" in proc.said(), message="spool full reported")
        assert (spool / "batches.jsonl").stat().st_size <= 900

        # and once the broker is back every line arrives, in order, none dropped
        own_broker.start()
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
        assert published_lines(own_broker) == list(range(1, 31))
    finally:
        proc.kill()


def test_batches_left_in_the_spool_are_sent_first_by_the_next_run(own_broker, spool):
    # Given a run that ended while the broker was down
    own_broker.stop()
    first = start_publisher(own_broker, spool)
    write(first, [1, 2])
    first.stdin.close()
    assert first.wait(timeout=60) == 0
    assert first.said().splitlines()[-1].endswith("1 batches waiting in the spool")

    # When the next run starts with the broker back
    own_broker.start()
    second = start_publisher(own_broker, spool)
    write(second, [3])
    second.stdin.close()
    assert second.wait(timeout=60) == 0

    # Then the old batch goes first
    assert published_lines(own_broker) == [1, 2, 3]


def test_sigterm_while_the_spool_is_full_still_keeps_the_batch(own_broker, spool):
    own_broker.stop()
    proc = start_publisher(own_broker, spool, "--batch-size", "3", "--spool-max-bytes", "300")
    write(proc, range(1, 10))
    wait_for(lambda: "spool full" in proc.said(), message="spool full reported")

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0

    own_broker.start()
    kept = Spool(spool, 1 << 20)
    numbers = []
    while (oldest := kept.peek()) is not None:
        batch, length = oldest
        numbers += [json.loads(raw)["data"]["id"] for _, raw in batch["events"]]
        kept.pop(length)
    assert numbers == [1, 2, 3], "the batch held while the spool was full must be kept"


def test_a_batch_cut_short_when_written_is_set_aside_not_a_crash_at_every_start(tmp_path, capsys):
    # Given a spool with one whole batch and a second one cut off mid-write
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append({"v": 1, "env": "prod", "events": [[1, "{}"]], "rejects": []})
    with (tmp_path / "batches.jsonl").open("ab") as f:
        f.write(b'{"v": 1, "env": "prod", "events": [[2, "{\\"data')

    # When the publisher starts again
    reopened = Spool(tmp_path, max_bytes=1 << 20)

    # Then the whole batch is there to send, the torn bytes are kept aside, and it says so
    batch, length = reopened.peek()
    assert batch["events"] == [[1, "{}"]]
    reopened.pop(length)
    assert reopened.peek() is None
    assert b'"events": [[2' in (tmp_path / "batches.torn").read_bytes()
    assert "incomplete batch" in capsys.readouterr().err
    reopened.append({"v": 1, "env": "prod", "events": [[3, "{}"]], "rejects": []})
    assert reopened.peek()[0]["events"] == [[3, "{}"]], "later batches are whole again"
