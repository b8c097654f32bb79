"""Each environment's publisher, seen from the hub: the worker that processes a batch notes its
source, origin, last position and server, and when it came; the API, /metrics and the live page's
snapshot show it. Real publisher processes (the binlog one against a MariaDB the tests start), a
real worker, Redis and PostgreSQL."""

import json
import signal
import subprocess
import sys

import pytest

from cdc_publisher.publisher import celery_sender
from dashboard.snapshot import snapshot
from notifications.models import ErrorLog, Event
from tests.cdc_publisher.conftest import MariaDB
from tests.conftest import ROOT, publisher_env, run_publisher, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def mariadb():
    server = MariaDB()
    server.start()
    yield server
    server.stop()


def status_of(admin_client, env: str) -> dict:
    response = admin_client.get("/api/publishers")
    assert response.status_code == 200, response.content
    return next(p for p in response.json() if p["environment"] == env)


def test_the_binlog_publishers_checkpoint_shows_in_the_api_metrics_and_live_page(
    mariadb, tmp_path, broker, start_worker, admin_client
):
    # Given a worker, and the binlog source publishing prod's changes
    start_worker()
    mariadb.execute("CREATE DATABASE IF NOT EXISTS status", "CREATE TABLE IF NOT EXISTS status.s (id INT)")
    checkpoint = tmp_path / "checkpoint.json"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "cdc_publisher", "--env", "prod", "--source", "binlog",
            "--mysql-url", mariadb.url, "--checkpoint", str(checkpoint),
        ],
        stderr=(tmp_path / "publisher.log").open("ab"),
        cwd=ROOT,
        env=publisher_env(),
    )  # fmt: skip
    try:
        # When rows change and the hub has processed them
        wait_for(checkpoint.exists, timeout=30, message="the publisher started")
        mariadb.execute("INSERT INTO status.s VALUES (1)", "INSERT INTO status.s VALUES (2)")
        end = mariadb.position()
        position = f"{end['log_file']}:{end['log_pos']}"
        wait_for(
            lambda: status_of(admin_client, "prod").get("position") == position,
            timeout=60,
            message="the last position in the hub",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0

    # Then the API shows the publisher's checkpoint: position, server and file, and its age
    saved = json.loads(checkpoint.read_text())
    prod = status_of(admin_client, "prod")
    assert prod["source"] == "binlog" and prod["origin"] == f"127.0.0.1:{mariadb.port} binlog", prod
    assert (prod["server_id"], prod["server_uuid"], prod["log_file_created"]) == (
        saved["server_id"], saved["server_uuid"], saved["log_file_created"]
    ), f"the hub's identity differs from the checkpoint's: {prod} vs {saved}"  # fmt: skip
    assert prod["received_at"] and prod["age_seconds"] >= 0, prod
    assert Event.objects.filter(environment="prod", database="status").count() == 2
    # and an environment nothing came from says so
    assert status_of(admin_client, "dev")["source"] is None

    # and /metrics has the age of prod's last position, and none for an environment never heard
    metrics = admin_client.get("/metrics").content.decode()
    assert 'hub_publisher_position_age_seconds{environment="prod",source="binlog"}' in metrics, metrics
    assert 'hub_publisher_position_age_seconds{environment="dev"' not in metrics

    # and the live page's snapshot carries it
    live = next(p for p in snapshot()["publishers"] if p["environment"] == "prod")
    assert live["position"] == position, live


def test_the_publishers_status_needs_a_login(client, broker):
    assert client.get("/api/publishers").status_code == 401, "the status is for staff and tokens only"


def test_a_maxwell_batch_without_a_checkpoint_shows_its_last_events_position(
    broker, start_worker, admin_client
):
    # Given a worker
    start_worker()

    # When Maxwell lines with positions (output_binlog_position) come through an older-style batch
    lines = b"".join(
        json.dumps(
            {"database": "shop", "table": "t", "type": "insert", "ts": 1763700000, "xid": n,
             "position": f"mysql-bin.000042:{n * 100}", "server_id": 7, "data": {"id": n}}
        ).encode() + b"\n"
        for n in (1, 2, 3)
    )  # fmt: skip
    assert run_publisher("staging", lines).returncode == 0

    # Then the hub shows the last event's position and server, from the Maxwell source
    staging = wait_for(
        lambda: status_of(admin_client, "staging")["source"] and status_of(admin_client, "staging"),
        message="staging's publisher in the hub",
    )
    assert (staging["source"], staging["position"], staging["server_id"]) == (
        "maxwell", "mysql-bin.000042:300", 7
    ), staging  # fmt: skip
    assert staging["log_file_created"] is None and staging["server_uuid"] is None


def test_a_batch_whose_checkpoint_is_not_one_is_processed_and_the_checkpoint_reported(
    broker, start_worker, admin_client, settings
):
    # Given a worker
    start_worker()

    # When a batch comes with a checkpoint that is not one (a number where the file should be)
    send = celery_sender(settings.CELERY_BROKER_URL, "dev")
    event = '{"database":"shop","table":"t","type":"insert","ts":1763700000,"xid":9,"data":{"id":9}}'
    send(
        {"v": 1, "env": "dev", "source": "binlog", "origin": "by hand", "events": [[1, event]], "rejects": [],
         "checkpoint": {"log_file": 12, "log_pos": 4, "server_id": 1, "server_uuid": None,
                        "log_file_created": None}}
    )  # fmt: skip

    # Then its event is processed, and the checkpoint is recorded as bad input, not as a position
    wait_for(lambda: Event.objects.filter(environment="dev").exists(), message="the event processed")
    error = ErrorLog.objects.get(kind=ErrorLog.Kind.BAD_INPUT, environment="dev")
    assert "checkpoint is not one (log_file is a int)" in error.message, error.message
    dev = status_of(admin_client, "dev")
    assert dev["source"] == "binlog" and dev["position"] is None, dev
