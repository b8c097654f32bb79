"""What must hold on either broker, Redis or RabbitMQ, with real processes: the publisher and the hub
declare their queues alike, the hub reads queue depths and health from the broker it runs on, and
(RabbitMQ) a killed worker's batch comes back at once. ``make test`` runs this file on both
(HUB_TEST_BROKER_URL: see tests/brokers.py)."""

import os
import signal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from kombu import Connection, Queue

from bench.services import CuttableProxy
from core.health import check_broker
from hub.metrics import HubCollector
from jira_bridge.models import TicketRequest
from notifications import hot
from notifications.models import Event
from tests.brokers import is_rabbitmq, rabbitmq_vhost, rabbitmqctl, vhost_of
from tests.conftest import EXAMPLES, free_port, process_env, run_publisher, wait_for
from tests.jira_bridge.test_faults_with_workers import expected, refunds

pytestmark = [pytest.mark.brokers, pytest.mark.django_db(transaction=True)]

ON_RABBITMQ = is_rabbitmq(settings.CELERY_BROKER_URL)
rabbitmq_only = pytest.mark.skipif(not ON_RABBITMQ, reason="RabbitMQ only (HUB_TEST_BROKER_URL=amqp://...)")


@pytest.fixture(scope="module")
def own_vhost():
    """A RabbitMQ vhost for this module alone, where no test of the session declared anything."""
    with rabbitmq_vhost() as url:
        yield url


def inventory(rows: int) -> bytes:
    """Maxwell lines for ``rows`` inventory updates: the example rules group them into one digest."""
    return b"".join(
        b'{"database":"shop","table":"inventory","type":"update","ts":1763700000,"xid":%d,"xoffset":0,'
        b'"position":"mysql-bin.000009:%d","data":{"sku":"SKU-%d","qty":0},"old":{"qty":1}}\n'
        % (7_000_000 + i // 1000, i, i)
        for i in range(rows)
    )


def queue_facts(url: str) -> dict[str, tuple[str, str]]:
    """RabbitMQ's own account of the vhost's queues: name -> (type, durable)."""
    out = rabbitmqctl("list_queues", "-p", vhost_of(url), "name", "type", "durable", "--no-table-headers")
    return {name: (kind, durable) for name, kind, durable in (line.split("\t") for line in out.splitlines())}


def test_queue_depths_and_metrics_count_what_waits_on_the_broker(broker):
    # Given three lines published in batches of two, and no worker to take them
    result = run_publisher("prod", refunds(3), "--batch-size", "2")
    assert result.returncode == 0, result.stderr.decode()

    # Then the live page's queue depths count the two messages waiting on cdc:prod, none elsewhere
    depths = {queue["name"]: queue["waiting"] for queue in hot.queue_depths()}
    assert depths["cdc:prod"] == 2, depths
    assert depths["cdc:dev"] == 0 and depths["jira:create"] == 0, depths

    # and so does /metrics
    (family,) = [f for f in HubCollector().collect() if f.name == "hub_queue_depth"]
    samples = {s.labels["queue"]: s.value for s in family.samples}
    assert samples["cdc:prod"] == 2, samples


def test_health_asks_the_broker_the_hub_runs_on(settings):
    # Given the tests' broker, up
    assert check_broker() is True, "the broker the tests run on is up"

    # When the hub's broker URL points at a port nothing listens on (same kind of broker)
    url = settings.CELERY_BROKER_URL
    scheme, rest = url.split("://", 1)
    credentials = rest.split("@", 1)[0] + "@" if "@" in rest else ""
    path = "/" + rest.split("/", 1)[1] if "/" in rest else ""
    settings.CELERY_BROKER_URL = f"{scheme}://{credentials}127.0.0.1:{free_port()}{path}"

    # Then /health says the broker is down
    assert check_broker() is False


@rabbitmq_only
def test_on_rabbitmq_the_queues_are_durable_quorum_queues(broker, start_worker):
    # Given a worker started as the Procfile starts it
    start_worker()

    # Then every queue of the hub is a durable quorum queue, the dead letter's too
    facts = queue_facts(settings.CELERY_BROKER_URL)
    for name in hot.queue_names():
        assert facts.get(name) == ("quorum", "true"), f"{name}: {facts.get(name)}"


@rabbitmq_only
def test_a_batch_published_before_any_worker_ran_is_consumed_when_one_starts(
    broker, own_vhost, fake_jira, start_worker
):
    # Given a vhost where nothing was ever declared, and the publisher declaring cdc:prod first
    result = run_publisher("prod", refunds(3), CELERY_BROKER_URL=own_vhost)
    assert result.returncode == 0, result.stderr.decode()
    assert queue_facts(own_vhost)["cdc:prod"] == ("quorum", "true"), "declared as the hub declares it"

    # When a worker starts on that vhost (declaring the same queue again, its own way)
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    start_worker(HUB_TEST_BROKER_URL=own_vhost, HUB_TEST_JIRA_URL=fake_jira.url)

    # Then the declarations agree (RabbitMQ would refuse the worker's otherwise) and the batch is
    # consumed: three tickets
    wait_for(
        lambda: TicketRequest.objects.filter(state=TicketRequest.State.CREATED).count() >= 3,
        message="the batch published before the worker",
    )
    assert fake_jira.summaries == expected(3)


@rabbitmq_only
def test_a_queue_declared_otherwise_is_refused_and_the_publisher_keeps_the_batch(broker):
    with rabbitmq_vhost() as url:
        # Given cdc:staging already declared as a classic queue (by an older hub, say)
        with Connection(url) as conn:
            Queue("cdc:staging").bind(conn.default_channel).declare()

        # When the publisher sends to it
        result = run_publisher("staging", refunds(2), CELERY_BROKER_URL=url)

    # Then RabbitMQ's refusal is reported with its reason, and the batch waits in the spool
    err = result.stderr.decode()
    assert "PRECONDITION_FAILED" in err and "x-queue-type" in err, err
    assert err.splitlines()[-1].endswith("1 batches waiting in the spool"), err
    assert "guest:guest" not in err, "the broker's password is never printed"


@rabbitmq_only
def test_a_worker_killed_mid_batch_on_rabbitmq_has_its_batch_redelivered_at_once(
    broker, fake_jira, start_worker
):
    # Given the example rules and a worker; Redis would redeliver only after the visibility
    # timeout (an hour here), and no beat runs to send anything again
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    env = {"HUB_TEST_JIRA_URL": fake_jira.url, "CELERY_VISIBILITY_TIMEOUT": "3600"}
    worker = start_worker(**env)

    # When one batch of 20 refunds and 20,000 inventory updates is published
    lines = refunds(20) + inventory(20_000)
    result = run_publisher("prod", lines, "--batch-size", "30000")
    assert result.returncode == 0, result.stderr.decode()

    # and the worker is killed (SIGKILL) while it processes that batch
    wait_for(lambda: broker.hlen("hub:active:cdc:prod"), message="the batch taken by the worker")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert not Event.objects.exists(), "the kill came after the batch committed: nothing to test"

    # and a new worker starts
    start_worker(**env)

    # Then the batch comes back to it at once, and every ticket exists exactly once
    wait_for(
        lambda: TicketRequest.objects.filter(state=TicketRequest.State.CREATED).count() >= 21,
        timeout=120,
        message="21 tickets from the redelivered batch, long before any visibility timeout",
    )
    assert Event.objects.count() == 20_020
    refund_summaries = sorted(s for s in fake_jira.summaries if s.startswith("Order "))
    assert refund_summaries == expected(20), "refund tickets missing or made twice"
    assert len(fake_jira.creates()) == 21, "one create per ticket: 20 refunds and one digest"


def test_a_batch_that_meets_the_database_down_is_tried_again_on_its_own_queue(broker, start_worker):
    # Given a worker that reaches PostgreSQL through a proxy (on RabbitMQ a countdown travels
    # through Celery's delayed-delivery exchanges, which route it by the queue the retry names)
    database = connection.settings_dict
    proxy = CuttableProxy(("127.0.0.1", int(database["PORT"] or 5432)))
    try:
        url = process_env()["DATABASE_URL"].replace(
            f"@{database['HOST'] or ''}:{database['PORT'] or ''}/", f"@127.0.0.1:{proxy.port}/"
        )
        worker = start_worker(DATABASE_URL=url)

        # When the database cannot be reached as a batch of three refunds arrives
        proxy.cut()
        result = run_publisher("prod", refunds(3))
        assert result.returncode == 0, result.stderr.decode()
        wait_for(
            lambda: "Retry in" in worker.log.read_text() or "_store_result" in worker.log.read_text(),
            message="the batch tried while the database is down",
        )
        # and can again
        proxy.mend()

        # Then the batch comes back to cdc:prod (not to Celery's default queue, which no worker
        # of the hub consumes) and its three events are recorded
        wait_for(lambda: Event.objects.count() == 3, timeout=120, message="the retried batch recorded")
        retries = [line for line in worker.log.read_text().splitlines() if "retry: Retry in" in line]
        assert retries and all("Retry in 0s" not in line for line in retries), retries
    finally:
        proxy.close()


@rabbitmq_only
def test_the_vhost_helper_makes_a_vhost_of_its_own_and_removes_it():
    # Given a vhost made by the helper
    with rabbitmq_vhost() as url:
        # Then the tests' user may use it, and it is not the session's
        assert vhost_of(url) != vhost_of(settings.CELERY_BROKER_URL)
        with Connection(url, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
        assert vhost_of(url) in rabbitmqctl("list_vhosts", "name").split()

    # and once the block ends, it is gone
    assert vhost_of(url) not in rabbitmqctl("list_vhosts", "name").split()
