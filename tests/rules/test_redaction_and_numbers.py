"""Secrets are redacted at every depth before anything is stored or rendered; numbers stay exact
from the line to the record, the conditions and the ticket."""

import json

import pytest

from jira_bridge.models import TicketRequest
from notifications.models import ErrorLog, Event
from pipeline.batches import process_cdc_batch
from rules.importing import import_rules
from rules.redaction import REDACTED, Redactor
from tests.rules.test_transform import batch

pytestmark = pytest.mark.django_db

SECRETS = ("s3cr3t-pass", "tok-abc", "4111111111111111", "deep-hidden")


def users_line(xid: int = 1) -> str:
    return json.dumps(
        {
            "database": "shop", "table": "users", "type": "insert", "ts": 1763700000, "xid": xid,
            "data": {
                "id": 7,
                "profile": {"password": "s3cr3t-pass", "name": "Ann",
                            "keys": [{"api_token": "tok-abc"}, {"label": "ok"}]},
                "payment": {"card_number": "4111111111111111"},
                "settings": {"inner": {"hidden_here": "deep-hidden"}},
            },
        }
    )  # fmt: skip


def test_redaction_reaches_every_depth_of_data_and_old():
    redactor = Redactor(["password", "token", "card"], ["data.settings.inner.hidden_here", "nickname"])
    event = json.loads(users_line())
    event["old"] = {"profile": {"password": "old-pass"}, "nickname": "x", "deep": [[{"nickname": "y"}]]}

    redacted = redactor.event(event)

    assert redacted["data"]["profile"]["password"] == REDACTED
    assert redacted["data"]["profile"]["keys"] == [{"api_token": REDACTED}, {"label": "ok"}]
    assert redacted["data"]["payment"]["card_number"] == REDACTED
    assert redacted["data"]["settings"]["inner"]["hidden_here"] == REDACTED, "a rule's path"
    assert redacted["old"]["profile"]["password"] == REDACTED
    assert redacted["old"]["deep"] == [[{"nickname": REDACTED}]], "a bare name, at any depth"
    assert redacted["data"]["profile"]["name"] == "Ann" and redacted["database"] == "shop"
    assert event["data"]["profile"]["password"] == "s3cr3t-pass", "the original is left as it was"


def test_no_secret_of_a_nested_json_column_is_stored_or_rendered():
    # Given a rule that prints the whole row, naming one nested path to redact
    import_rules(
        """
rules:
  - name: new-users
    match: {database: shop, table: users, type: insert}
    ticket: {project: OPS, summary: "User {{ data.id }}", description: "{{ data|pprint }}"}
    redact: [data.settings.inner.hidden_here]
"""
    )
    # When a row with secrets inside JSON columns arrives, beside a rejected line that parses
    rejected = '{"type": "upsert", "database": "shop", "data": {"auth": {"password": "s3cr3t-pass"}}}'
    process_cdc_batch(batch([users_line(), rejected]))

    # Then neither the event record, the ticket nor the error record holds any secret
    stored = [
        json.dumps(Event.objects.get().payload, default=str),
        json.dumps(TicketRequest.objects.get().fields),
        ErrorLog.objects.get().raw,
    ]
    for text in stored:
        for secret in SECRETS:
            assert secret not in text, f"{secret} in {text}"
    assert "'name': 'Ann'" in TicketRequest.objects.get().fields["description"]
    assert ErrorLog.objects.get().raw_redacted, "it parsed, so it was redacted"


def test_a_rejected_line_that_does_not_parse_is_kept_for_operators_only():
    process_cdc_batch(batch([], rejects=[(1, '{"password": "s3cr3t-pass", oops', "not JSON")]))
    error = ErrorLog.objects.get()
    assert not error.raw_redacted and "s3cr3t-pass" in error.raw, "kept, as it came, and marked"


def test_conditions_and_tickets_see_exact_numbers():
    # Given rules comparing past what a float can tell apart
    import_rules(
        """
rules:
  - name: past-unsigned-bigint
    match:
      database: shop
      table: t
      where: {data.n: {gt: 18446744073709551615}}
    ticket: {project: OPS, summary: "n={{ data.n }} d={{ data.d }}", description: "{{ data|pprint }}"}
  - name: a-tenth
    match:
      database: shop
      table: t
      where: {data.d: {lt: 0.1}}
    ticket: {project: OPS, summary: "below a tenth: {{ data.d }}"}
"""
    )
    line = (
        '{"database":"shop","table":"t","type":"insert","ts":1,"xid":%d,'
        '"data":{"n":%s,"d":%s,"big":123456789012345678901234567890}}'
    )

    # When one event is one past the bound and another exactly at it
    process_cdc_batch(
        batch(
            [
                line % (1, "18446744073709551616", "12345678901234567.123456789"),
                line % (2, "18446744073709551615", "0.1"),
            ]
        )  # fmt: skip
    )

    # Then only the first matches (a float would call them equal), and 0.1 is not below 0.1
    summaries = sorted(TicketRequest.objects.values_list("fields__summary", flat=True))
    assert summaries == ["n=18446744073709551616 d=12345678901234567.123456789"], summaries
    description = TicketRequest.objects.get().fields["description"]
    assert "'big': 123456789012345678901234567890" in description, description
    # and the records keep every digit
    stored = Event.objects.get(payload__xid=1).payload["data"]
    assert (str(stored["n"]), str(stored["d"]), str(stored["big"])) == (
        "18446744073709551616", "12345678901234567.123456789", "123456789012345678901234567890"
    )  # fmt: skip


def test_a_rejected_line_that_parses_is_redacted_by_the_rules_paths_too():
    redactor = Redactor(["password"], ["data.pan", "data.settings.inner.hidden_here"])
    line = {"type": "upsert", "password": "p", "primary_key": ["4111"],
            "data": {"pan": "4111", "settings": {"inner": {"hidden_here": "d"}}, "ok": 1}}  # fmt: skip
    assert redactor.anything(line) == {
        "type": "upsert", "password": REDACTED, "primary_key": [REDACTED],
        "data": {"pan": REDACTED, "settings": {"inner": {"hidden_here": REDACTED}}, "ok": 1},
    }  # fmt: skip


def test_a_primary_key_made_of_a_secret_column_is_redacted():
    redactor = Redactor(["token"])
    by_value = redactor.event({"data": {"token": "hub_SECRET", "id": 1}, "primary_key": ["hub_SECRET"]})
    named = redactor.event(
        {"data": {"token": "hub_SECRET", "id": 1}, "primary_key": ["hub_SECRET", 1],
         "primary_key_columns": ["token", "id"]}
    )  # fmt: skip
    assert by_value["primary_key"] == [REDACTED]
    assert named["primary_key"] == [REDACTED, 1], "a key column that is not secret is kept"


def test_a_rule_compares_past_fifteen_digits_with_its_number_quoted():
    import_rules(
        """
rules:
  - name: above
    match: {database: shop, table: t, where: {data.d: {gt: "12345678901234567.12345678"}}}
    ticket: {project: OPS, summary: "above {{ data.d }}"}
"""
    )
    line = '{"database":"shop","table":"t","type":"insert","ts":1,"xid":%d,"data":{"d":%s}}'
    process_cdc_batch(
        batch([line % (1, "12345678901234567.123456789"), line % (2, "12345678901234567.12345678")])
    )
    assert list(TicketRequest.objects.values_list("fields__summary", flat=True)) == [
        "above 12345678901234567.123456789"
    ]


def test_records_an_older_hub_stored_in_clear_are_redacted_by_redact_records():
    # Given a rule naming a nested path, and an event and error records as an older hub stored them
    from django.core.management import call_command

    import_rules(
        """
rules:
  - name: new-users
    match: {database: shop, table: users}
    ticket: {project: OPS, summary: "User {{ data.id }}"}
    redact: [data.settings.inner.hidden_here]
"""
    )
    Event.objects.create(environment="prod", event_id="old-1", database="shop", table="users", type="insert",
                         payload=json.loads(users_line()), outcome="unmatched")  # fmt: skip
    ErrorLog.objects.create(kind="template", source="rules", message="m1", raw=users_line())
    ErrorLog.objects.create(
        kind="bad_input", source="cdc", message="m2", raw='{"password": "s3cr3t-pass", oo'
    )

    # When the command runs (twice: it is idempotent)
    call_command("redact_records")
    call_command("redact_records", "--dry-run")

    # Then no secret is left where it could be redacted, and the rest is for operators only
    stored = [json.dumps(Event.objects.get().payload, default=str), ErrorLog.objects.get(message="m1").raw]
    for text in stored:
        assert not any(secret in text for secret in SECRETS), text
    assert ErrorLog.objects.get(message="m1").raw_redacted
    assert not ErrorLog.objects.get(message="m2").raw_redacted, "it does not parse: hidden from viewers"
