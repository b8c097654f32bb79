import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from bench.services import procfile_command
from tests.brokers import create_vhost, delete_vhost, is_rabbitmq, purge
from tests.fakes.jira import FakeJira

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session", autouse=True)
def rabbitmq_session_vhost():
    """On RabbitMQ (HUB_TEST_BROKER_URL=amqp://...), the URL's vhost made afresh for the session
    and deleted after it (tests/brokers.py)."""
    url = settings.CELERY_BROKER_URL
    if not is_rabbitmq(url):
        yield None
        return
    create_vhost(url)
    yield url
    delete_vhost(url)


@pytest.fixture
def broker() -> redis.Redis:
    """The tests' Redis database (the hub's hot state, and the broker unless the tests run on
    RabbitMQ), emptied before the test, as are the hub's queues on RabbitMQ."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    queues = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    client.flushdb()
    purge(settings.CELERY_BROKER_URL, queues)
    yield client
    client.flushdb()
    purge(settings.CELERY_BROKER_URL, queues)


@pytest.fixture
def fake_jira():
    with FakeJira() as jira:
        yield jira


def wait_for(condition, timeout: float = 60.0, interval: float = 0.1, message: str = ""):
    """Poll until ``condition()`` is truthy and return its value; fail the test after ``timeout``.
    A bound on waiting for real processes, not a speed assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting after {timeout}s: {message or condition}")
        time.sleep(interval)


def process_env(**extra: str) -> dict[str, str]:
    """Environment for a hub process started by a test: the test database and test settings."""
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=f"postgres://{db['USER'] or ''}@{db['HOST'] or ''}:{db['PORT'] or ''}/{db['NAME']}",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


@pytest.fixture
def start_process(tmp_path, broker):
    """Start a Procfile process (with test settings); stopped when the test ends."""
    started = []

    def start(name: str, ready: str, extra_args=(), **env: str) -> subprocess.Popen:
        log = tmp_path / f"{name}{len(started)}.log"
        command = [sys.executable, "-m", *procfile_command(name, env), *extra_args]  # "celery -A hub ..."
        proc = subprocess.Popen(
            command, cwd=ROOT, env=process_env(**env), stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        proc.log = log
        started.append(proc)
        wait_for(
            lambda: ready in log.read_text() or proc.poll() is not None, timeout=60, message=f"{name} start"
        )
        assert proc.poll() is None, f"{name} exited at start:\n{log.read_text()}"
        return proc

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def start_web(start_process):
    """Start the Procfile's web process (uvicorn, ASGI) on a free port; returns its base URL."""

    def start(**env: str) -> str:
        port = str(free_port())
        start_process("web", "Application startup complete", HUB_PORT=port, **env)
        return f"http://127.0.0.1:{port}"

    return start


@pytest.fixture
def start_worker(start_process):
    """Start the Procfile's worker; ``start_worker(**env)`` returns its process."""
    count = iter(range(100))

    def start(**env: str) -> subprocess.Popen:
        args = ["--without-gossip", "--without-mingle", "--hostname", f"test{next(count)}@%h"]
        return start_process("worker", "ready.", args, **env)

    return start


def publisher_env(**env: str) -> dict[str, str]:
    """Environment for a publisher process: the tests' broker and a spool of its own."""
    return {
        **os.environ,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CDC_SPOOL_DIR": tempfile.mkdtemp(prefix="cdc-spool-"),
        **env,
    }


def run_publisher(env_name: str, stdin: bytes, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m cdc_publisher`` as operators do, against the tests' broker."""
    return subprocess.run(
        [sys.executable, "-m", "cdc_publisher", "--env", env_name, *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=publisher_env(**env),
        timeout=120,
    )


def outcomes_of(request) -> list[str]:
    """The outcome of each try at a ticket request, in order (its DeliveryAttempt rows)."""
    return list(request.tries.order_by("at", "id").values_list("outcome", flat=True))
