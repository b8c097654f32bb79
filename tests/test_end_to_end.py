"""A Maxwell file in, Jira tickets out: a real publisher process, a real worker, PostgreSQL,
Redis, the broker (Redis or RabbitMQ: marked ``brokers``), and the real ``jira`` client talking
to a fake Jira over HTTP."""

import pytest
from django.core.management import call_command

from jira_bridge.models import TicketRequest
from notifications.models import DailyStat, ErrorLog, Event
from tests.conftest import EXAMPLES, outcomes_of, run_publisher, wait_for

# Every test but the 100k-row one (throughput, nothing of the broker's) is marked brokers.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REFUNDS = [f"Order {i} refunded in prod" for i in range(10, 151, 10)]
LARGE_ORDERS = [f"Large order {i}: {1500 + i} in prod" for i in range(20, 151, 20)]
DELETED = [f"Customer {1000 + i} deleted in prod" for i in (1, 2, 3)]
DIGEST = ["Inventory changing in prod (shop.inventory)"]
EXPECTED = sorted(REFUNDS + LARGE_ORDERS + DELETED + DIGEST)


@pytest.mark.brokers
def test_the_example_file_becomes_exactly_the_tickets_the_rules_call_for(broker, fake_jira, start_worker):
    # Given the example rules and a worker started as the Procfile starts it, with Jira configured
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    start_worker(HUB_TEST_JIRA_URL=fake_jira.url)

    # When the 500-line example (5 broken lines) is piped into the publisher
    result = run_publisher("prod", (EXAMPLES / "maxwell-prod.jsonl").read_bytes())

    # Then the publisher says what it did, and exits 0
    assert result.returncode == 0, result.stderr.decode()
    summary = result.stderr.decode().strip().splitlines()[-1]
    assert summary == "cdc_publisher: read 500 lines: 495 events published in 1 batches, 5 rejected", summary

    # and Jira gets exactly the 26 tickets the rules call for, none twice
    wait_for(lambda: len(fake_jira.issues) >= len(EXPECTED), message="tickets in the fake Jira")
    wait_for(
        lambda: not TicketRequest.objects.exclude(state=TicketRequest.State.CREATED).exists(),
        message="every request settled",
    )
    assert fake_jira.summaries == EXPECTED
    posts = [r for r in fake_jira.requests if r[0] == "POST"]
    assert len(posts) == len(EXPECTED), f"{len(posts)} creates sent for {len(EXPECTED)} tickets"

    # and the rendered fields are as the rules say, with the card number redacted
    large = next(i for i in fake_jira.issues.values() if i["fields"]["summary"] == LARGE_ORDERS[0])
    assert large["fields"]["project"] == {"key": "SALES"}
    assert large["fields"]["labels"][:2] == ["cdc", "large-order"]
    assert large["fields"]["labels"][2].startswith("hub-"), "the ledger's marker label"
    assert "Card: [redacted]" in large["fields"]["description"], large["fields"]["description"]
    # and so are the secrets inside the deleted customers' JSON column, at every depth
    gone = next(i for i in fake_jira.issues.values() if i["fields"]["summary"] == DELETED[0])
    assert "'api_token': '[redacted]'" in gone["fields"]["description"], gone["fields"]["description"]
    assert "'devices': [{'push_secret': '[redacted]'}]" in gone["fields"]["description"]
    assert b"tok-demo-" not in fake_jira.sent() and b"push-demo-" not in fake_jira.sent()

    # and each Jira key is recorded against its events (119 inventory events on one digest)
    keys = set(TicketRequest.objects.values_list("jira_key", flat=True))
    assert keys == set(fake_jira.issues), "hub's keys differ from Jira's"
    digest = TicketRequest.objects.get(rule_name="inventory-churn")
    assert digest.events.count() == 119

    # and the 5 broken lines are stored as bad input with their line numbers and raw text
    bad = ErrorLog.objects.filter(kind=ErrorLog.Kind.BAD_INPUT).order_by("context__line")
    assert [e.context["line"] for e in bad] == [17, 101, 250, 333, 499]
    assert bad.last().raw == "maxwell: lost connection to MySQL, retrying"
    assert "unknown type 'upsert'" in bad[2].message

    # and every accepted event is recorded, DDL and bootstrap control included
    assert Event.objects.count() == 495
    assert Event.objects.filter(outcome=Event.Outcome.RECORDED).count() == 3
    totals = DailyStat.objects.get(environment="prod", rule="")
    assert (totals.events, totals.bad_input) == (495, 5)


@pytest.mark.brokers
def test_outbox_mode_keeps_the_tickets_in_the_hub(broker, start_worker):
    # Given no Jira configured
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    start_worker()

    # When the example is published
    result = run_publisher("prod", (EXAMPLES / "maxwell-prod.jsonl").read_bytes())
    assert result.returncode == 0, result.stderr.decode()

    # Then the tickets exist in the outbox, with exactly the fields that would have been sent
    from receivers.outbox.models import OutboxTicket

    wait_for(lambda: OutboxTicket.objects.count() >= len(EXPECTED), message="outbox tickets")
    wait_for(
        lambda: not TicketRequest.objects.exclude(state=TicketRequest.State.CREATED).exists(),
        message="every request settled",
    )
    assert sorted(t.fields["summary"] for t in OutboxTicket.objects.all()) == EXPECTED
    for request in TicketRequest.objects.all():
        outbox = OutboxTicket.objects.get(pk=int(request.jira_key.removeprefix("OUTBOX-")))
        assert outbox.fields == request.fields, f"{request.jira_key} differs from what was asked"

    # and the task results are kept in PostgreSQL, the batch described rather than copied
    from django_celery_results.models import TaskResult

    results = TaskResult.objects.filter(status="SUCCESS")
    wait_for(lambda: results.count() >= len(EXPECTED) + 1, message="task results stored")
    assert results.filter(task_name="jira_bridge.create_ticket").count() == len(EXPECTED)
    batch = results.get(task_name="cdc.process_batch")
    assert "lines 1-500, 495 events, 5 rejected" in batch.task_args, batch.task_args


@pytest.mark.brokers
def test_a_worker_retries_transient_jira_errors_until_the_ticket_exists_once(broker, fake_jira, start_worker):
    # Given Jira failing the next two calls with 503
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    fake_jira.fail_next(2, 503)
    start_worker(HUB_TEST_JIRA_URL=fake_jira.url)

    # When one refund is published
    line = (
        b'{"database":"shop","table":"orders","type":"update","ts":1763700000,"xid":1,'
        b'"data":{"id":42,"status":"refunded"},"old":{"status":"paid"}}\n'
    )
    assert run_publisher("prod", line).returncode == 0

    # Then the worker retries with backoff and the ticket is created exactly once
    request = wait_for(
        lambda: TicketRequest.objects.filter(state=TicketRequest.State.CREATED).first(),
        message="ticket created after retries",
    )
    assert fake_jira.summaries == ["Order 42 refunded in prod"]
    outcomes = outcomes_of(request)
    assert outcomes[0] == "ambiguous" and outcomes[-1] == "created", outcomes
    assert len(fake_jira.creates()) == 3, "two failed creates, each looked for before the next"


@pytest.mark.brokers
def test_the_worker_consumes_every_queue_but_the_dead_letter(broker, start_worker):
    from hub.celery import app

    start_worker()
    replies = wait_for(lambda: app.control.inspect(timeout=2).active_queues(), message="worker reply")
    (queues,) = replies.values()
    assert sorted(q["name"] for q in queues) == sorted(
        [
            "cdc:dev",
            "cdc:staging",
            "cdc:prod",
            "oss:events",
            "jira:create",
            "scheduler:oss-check",
            "scheduler:maintenance",
        ]
    )


@pytest.mark.brokers
def test_a_maxwell_restart_that_replays_the_stream_creates_nothing_twice(broker, start_worker):
    from receivers.outbox.models import OutboxTicket

    # Given the example file published once, and its tickets made
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    start_worker()
    stream = (EXAMPLES / "maxwell-prod.jsonl").read_bytes()
    assert run_publisher("prod", stream).returncode == 0
    wait_for(lambda: OutboxTicket.objects.count() >= len(EXPECTED), message="first pass")

    # When Maxwell restarts and replays the last 300 lines
    replay = b"\n".join(stream.splitlines()[200:]) + b"\n"
    assert run_publisher("prod", replay).returncode == 0

    # Then the redelivered events are dropped and counted, and no ticket is made twice
    totals = DailyStat.objects.filter(environment="prod", rule="")
    wait_for(lambda: totals.get().duplicates > 0, message="replay processed")
    assert totals.get().duplicates == 297, "300 lines replayed, 3 of them broken"
    assert Event.objects.count() == 495
    assert sorted(t.fields["summary"] for t in OutboxTicket.objects.all()) == EXPECTED


def test_a_bulk_update_of_100k_rows_under_a_grouped_rule_is_one_ticket(broker, start_worker):
    from notifications.models import Event
    from receivers.outbox.models import OutboxTicket

    # Given the example rules (inventory-churn: grouped by env, database, table; 10 minutes)
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    start_worker()
    rows = 100_000
    lines = b"".join(
        b'{"database":"shop","table":"inventory","type":"update","ts":%d,"xid":%d,"xoffset":0,'
        b'"position":"mysql-bin.000009:%d","data":{"sku":"SKU-%d","qty":0},"old":{"qty":1}}\n'
        % (1763700000 + i // 1000, 5_000_000 + i // 1000, i, i)
        for i in range(rows)
    )

    # When one UPDATE of 100,000 rows comes through the publisher
    result = run_publisher("prod", lines)
    assert result.returncode == 0, result.stderr.decode()

    # Then every row is recorded, and there is one ticket
    totals = DailyStat.objects.filter(environment="prod", rule="")
    wait_for(
        lambda: (totals.first().events if totals.exists() else 0) >= rows, timeout=300, message="100k events"
    )
    wait_for(lambda: OutboxTicket.objects.exists(), message="the digest ticket")
    assert Event.objects.count() == rows
    digest = TicketRequest.objects.get(rule_name="inventory-churn")
    assert digest.events.count() == rows
    assert OutboxTicket.objects.count() == 1
