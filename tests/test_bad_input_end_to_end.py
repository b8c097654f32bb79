"""Poison lines, exact numbers and nested secrets through a real publisher, a real worker,
PostgreSQL, Redis and the real ``jira`` client talking to a fake Jira: the valid lines' events and
tickets exist, each poison line is a bad-input record with its reason, every digit is kept, and
no secret value is in any stored row (pg_dump), log, page, API answer or request to Jira."""

import json
import subprocess

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client

from jira_bridge.models import TicketRequest
from notifications.models import ErrorLog, Event, JobFailure
from rules.importing import import_rules
from tests.conftest import EXAMPLES, run_publisher, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRETS = ["s3cr3t-pass-1", "tok-nested-2", "pw-in-array-3", "hidden-by-path-4", "bad-line-pw-5"]


def line(**event) -> str:
    return json.dumps({"database": "shop", "ts": 1763700000, **event})


def refund(order_id: int, xid: int) -> str:
    return line(table="orders", type="update", xid=xid, data={"id": order_id, "status": "refunded"},
                old={"status": "paid"})  # fmt: skip


USERS = (
    line(
        table="users",
        type="insert",
        xid=30,
        data={
            "id": 7,
            "name": "Ann",
            "balance": 0,
            "big": 0,
            "profile": {
                "password": SECRETS[0],
                "keys": [{"api_token": SECRETS[1]}],
                "history": [[{"passwd": SECRETS[2]}]],
            },
            "settings": {"inner": {"hidden": SECRETS[3]}},
        },
    )  # fmt: skip
    .replace('"balance": 0', '"balance": 12345678901234567.123456789')
    .replace('"big": 0', '"big": 18446744073709551616')
)
POISON = {
    2: line(table={"a": 1}, type="table-create", sql="create table a (id int)"),
    3: line(table=["orders"], type="insert", xid=2, data={"id": 1}),
    4: line(table="orders", type="insert", xid=3, data={"x": json.loads("[" * 300 + "1" + "]" * 300)}),
    5: line(table="orders", type="insert", xid=4, data={"blob": "b" * 30_000}),
    # every check passes, and PostgreSQL refuses it (refuse_poison): whatever nobody foresaw
    6: refund(66, 5).replace('"status": "refunded"', '"status": "refunded", "poison": true'),
    8: line(table="orders", type="upsert", xid=6, data={"auth": {"password": SECRETS[4]}}),
}
REASONS = {
    2: "'table' is a object, not a string",
    3: "'table' is a list, not a string",
    4: "nested deeper than 128 levels",
    5: "over --max-line-bytes (20,000)",
    6: "could not be stored or processed: IntegrityError",
    8: "unknown type 'upsert'",
}


@pytest.fixture
def refuse_poison():
    """The real PostgreSQL refusing a row the hub's checks let through: a check constraint."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE notifications_event "
            "ADD CONSTRAINT test_poison CHECK (NOT (payload->'data' ? 'poison'))"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event DROP CONSTRAINT test_poison")


def test_poison_lines_numbers_and_secrets_through_the_real_pipeline(
    broker, fake_jira, start_worker, refuse_poison
):
    # Given the example rules, a rule printing whole user rows, and a worker with Jira configured
    import_rules((EXAMPLES / "rules.yaml").read_text())
    import_rules(
        """
rules:
  - name: new-users
    match: {database: shop, table: users, type: insert, where: {data.big: {gt: 18446744073709551615}}}
    ticket:
      project: OPS
      summary: "User {{ data.id }} balance {{ data.balance }} big {{ data.big }}"
      description: "{{ data|pprint }}"
    redact: [data.settings.inner.hidden]
"""
    )
    worker = start_worker(HUB_TEST_JIRA_URL=fake_jira.url)

    # When one batch of nine lines, six of them poison, is published
    lines = [refund(1, 1), *[POISON[n] for n in (2, 3, 4, 5, 6)], USERS, POISON[8], refund(9, 9)]
    result = run_publisher("prod", ("\n".join(lines) + "\n").encode(), "--max-line-bytes", "20000")
    assert result.returncode == 0, result.stderr.decode()
    assert "read 9 lines: 4 events published in 1 batches, 5 rejected" in result.stderr.decode()

    # Then the three valid lines' events and tickets exist, in Jira exactly once each
    wait_for(lambda: len(fake_jira.issues) >= 3, message="three tickets in the fake Jira")
    wait_for(lambda: not TicketRequest.objects.exclude(state="created").exists(), message="settled")
    assert fake_jira.summaries == [
        "Order 1 refunded in prod",
        "Order 9 refunded in prod",
        "User 7 balance 12345678901234567.123456789 big 18446744073709551616",
    ]
    assert sorted(Event.objects.values_list("table", flat=True)) == ["orders", "orders", "users"]

    # and each poison line is a bad-input record with its line number and reason; nothing failed whole
    bad = {e.context["line"]: e.message for e in ErrorLog.objects.filter(kind=ErrorLog.Kind.BAD_INPUT)}
    assert sorted(bad) == sorted(REASONS), bad
    for number, reason in REASONS.items():
        assert reason in bad[number], f"line {number}: {bad[number]}"
    assert not JobFailure.objects.exists()

    # and the numbers kept every digit in the record
    users = Event.objects.get(table="users").payload["data"]
    assert (str(users["balance"]), str(users["big"])) == (
        "12345678901234567.123456789",
        "18446744073709551616",
    )

    # and no secret value is anywhere: the database, the logs, Jira, the pages, the API
    places = {
        "pg_dump": pg_dump(),
        "worker log": worker.log.read_text(),
        "publisher stderr": result.stderr.decode(),
        "requests to Jira": fake_jira.sent().decode(),
        **pages(TicketRequest.objects.get(rule_name="new-users").pk),
    }
    for place, text in places.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret} found in {place}"
    assert "'name': 'Ann'" in places["requests to Jira"], "the description did reach Jira"


def pg_dump() -> str:
    db = connection.settings_dict
    command = ["pg_dump", "--data-only", "--dbname", db["NAME"]]
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db[key]:
            command += [flag, str(db[key])]
    dumped = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    assert "Order 1 refunded in prod" in dumped, "the dump holds the records"
    return dumped


def pages(request_id: int) -> dict[str, str]:
    operator = User.objects.create_user("olga", password="pw", is_staff=True)
    operator.groups.add(Group.objects.get(name="operators"))
    client = Client()
    client.force_login(operator)
    urls = [
        "/errors/",
        f"/tickets/{request_id}/",
        "/api/failures",
        f"/api/tickets/{request_id}",
        "/api/tickets",
    ]
    answers = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        answers[url] = response.content.decode()
    assert "Ann" in answers[f"/tickets/{request_id}/"], "the page shows the event"
    return answers
