"""A ticket request's history, a JSON list until now, becomes its DeliveryAttempt rows: every
entry kept, in order, odd ones (a time that does not parse, an outcome or status of an older hub)
kept with what they said."""

import datetime as dt

import pytest

from tests.migrations import latest_schema_afterwards, migrate  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("latest_schema_afterwards")]

BEFORE = ("jira_bridge", "0006_outbox_ticket_moves_to_the_outbox_app")
AFTER = ("jira_bridge", "0007_attempts_as_rows")


def test_a_requests_history_becomes_its_attempt_rows_in_order():
    # Given requests with a history as the bridge wrote it, and one with odd entries
    old = migrate([BEFORE])
    requests = old.get_model("jira_bridge", "TicketRequest").objects
    made = dict(rule_name="r", environment="prod", fields={"summary": "s"})
    kept = requests.create(key="k1", **made, history=[
        {"at": "2026-11-30T10:00:00+00:00", "outcome": "transient", "status": 503, "error": "Unavailable"},
        {"at": "2026-11-30T10:00:04+00:00", "outcome": "ambiguous", "status": None, "error": "timed out"},
        {"at": "2026-11-30T10:00:09+00:00", "outcome": "found", "status": None, "error": ""},
    ])  # fmt: skip
    odd = requests.create(key="k2", **made, history=[
        {"at": "t1", "outcome": "gave up", "status": "503?", "error": "x"}, "not a dict",
    ])  # fmt: skip
    untouched = requests.create(key="k3", **made)

    # When the migration runs
    new = migrate([AFTER])
    attempts = new.get_model("jira_bridge", "DeliveryAttempt").objects.order_by("at", "id")

    # Then each entry is a row of its request, in order, with its time, status and error
    rows = [(a.at, a.outcome, a.status, a.error) for a in attempts.filter(request_id=kept.pk)]
    at = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
    assert rows == [
        (at, "transient", 503, "Unavailable"),
        (at + dt.timedelta(seconds=4), "ambiguous", None, "timed out"),
        (at + dt.timedelta(seconds=9), "found", None, ""),
    ]
    # and an odd entry keeps what it said in its error, at the request's last change
    odd_rows = [(a.outcome, a.status, a.error) for a in attempts.filter(request_id=odd.pk)]
    assert odd_rows == [("transient", None, "gave up: status '503?'; x"), ("transient", None, "'not a dict'")]
    assert {a.at for a in attempts.filter(request_id=odd.pk)} == {odd.updated_at}
    assert not attempts.filter(request_id=untouched.pk).exists()


def test_the_migration_runs_back_to_the_history_list():
    old = migrate([BEFORE])
    history = [{"at": "2026-11-30T10:00:00+00:00", "outcome": "created", "status": None, "error": ""}]
    request = old.get_model("jira_bridge", "TicketRequest").objects.create(
        key="k1", rule_name="r", environment="prod", fields={"summary": "s"}, history=history
    )
    migrate([AFTER])
    back = migrate([BEFORE]).get_model("jira_bridge", "TicketRequest").objects.get(pk=request.pk)
    assert back.history == history
