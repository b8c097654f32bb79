import json

import pytest
from django.core.management import call_command

from jira_bridge.models import TicketRequest
from notifications.models import AuditEntry, ErrorLog, Event
from pipeline.batches import process_cdc_batch, stored_lines
from rules.importing import import_rules
from rules.models import Rule
from tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db


def batch(lines: list[str], rejects=(), env: str = "prod") -> dict:
    return {
        "v": 1,
        "env": env,
        "source": "maxwell",
        "origin": "db1:stdin",
        "events": [[n, line] for n, line in enumerate(lines, start=1)],
        "rejects": [list(r) for r in rejects],
    }


def refund(order_id: int, xid: int) -> str:
    return json.dumps(
        {
            "database": "shop",
            "table": "orders",
            "type": "update",
            "ts": 1763700000,
            "xid": xid,
            "data": {"id": order_id, "status": "refunded"},
            "old": {"status": "paid"},
        }
    )


def test_it_records_events_and_requests_a_ticket_per_match(example_rules):
    lines = [refund(1, 10), refund(2, 11), *(FIXTURES / "maxwell" / "ddl.jsonl").read_text().splitlines()]
    result = process_cdc_batch(batch(lines, rejects=[(9, "garbage", "not JSON")]))

    assert (result.events, result.rejected, result.matched) == (4, 1, 2)
    assert sorted(TicketRequest.objects.values_list("fields__summary", flat=True)) == [
        "Order 1 refunded in prod",
        "Order 2 refunded in prod",
    ]
    assert sorted(result.new_requests) == sorted(TicketRequest.objects.values_list("id", flat=True))
    assert list(Event.objects.order_by("id").values_list("outcome", flat=True)) == [
        "matched",
        "matched",
        "recorded",
        "recorded",
    ]
    error = ErrorLog.objects.get()
    assert (error.where, error.raw, error.context["line"]) == ("db1:stdin line 9", "garbage", 9)
    assert AuditEntry.objects.filter(action=AuditEntry.TICKET_REQUESTED).count() == 2


def test_a_redelivered_batch_is_dropped_and_counted(example_rules):
    from notifications.models import DailyStat

    payload = batch([refund(1, 10), refund(2, 11)])
    first = process_cdc_batch(payload)
    again = process_cdc_batch({**payload, "events": payload["events"] + [[3, refund(3, 12)]]})

    assert (len(first.new_requests), first.duplicates) == (2, 0)
    assert (len(again.new_requests), again.duplicates) == (1, 2), "only the new event goes on"
    assert Event.objects.count() == 3
    assert DailyStat.objects.get(rule="").duplicates == 2
    received = AuditEntry.objects.filter(action=AuditEntry.EVENTS_RECEIVED).latest("id")
    assert received.summary.startswith("1 events, 2 redelivered (dropped)")


def test_the_same_event_twice_in_one_batch_is_kept_once(example_rules):
    result = process_cdc_batch(batch([refund(1, 10), refund(1, 10)]))
    assert (result.events, result.duplicates, len(result.new_requests)) == (1, 1, 1)


def test_a_template_that_fails_is_recorded_and_the_other_rules_go_on(example_rules):
    # Given a second rule for the same events whose template fails at render time
    broken = Rule.objects.get(name="prod-refunds")
    broken.pk, broken.name = None, "broken-refunds"
    broken.summary = "{{ data.id|divisibleby:0 }}"
    broken.save()

    result = process_cdc_batch(batch([refund(1, 10)]))

    assert len(result.new_requests) == 1, "the healthy rule still asks for its ticket"
    error = ErrorLog.objects.get(kind=ErrorLog.Kind.TEMPLATE)
    assert error.where.startswith("rule broken-refunds, db1:stdin line 1")
    assert "ZeroDivisionError" in error.message


def test_a_line_the_hub_cannot_parse_is_bad_input_not_a_crash(example_rules):
    process_cdc_batch(batch([refund(1, 10), '{"database":"shop"}']))
    error = ErrorLog.objects.get()
    assert error.message == "line 2 is not a Maxwell event: missing 'type'"
    assert Event.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("just text", "a str, not a mapping"),
        ({"v": 2, "env": "prod", "events": [], "rejects": []}, "payload version 2"),
        ({"v": 1, "env": "qa", "events": [], "rejects": []}, "unknown environment 'qa'"),
        ({"v": 1, "env": "prod", "events": [["1", "x"]], "rejects": []}, "'events' is not a list"),
    ],
)
def test_a_payload_that_is_not_a_batch_is_recorded_whole(payload, reason):
    from pipeline.tasks import process_cdc_batch_task

    result = process_cdc_batch_task.apply(args=[payload]).get()
    error = ErrorLog.objects.get()
    assert result["events"] == 0
    assert error.kind == ErrorLog.Kind.BAD_INPUT and reason in error.message, error.message
    assert error.raw, "the raw payload is kept"
    assert not error.raw_redacted, "its lines were never parsed, so it is for operators' eyes only"


def test_nul_characters_which_postgresql_cannot_store_do_not_lose_the_event(example_rules):
    # Given a refund whose data holds U+0000, and a broken line holding a NUL byte
    line = refund(1, 10).replace('"refunded"}', '"refunded", "note": "a\\u0000b"}')
    process_cdc_batch(batch([line], rejects=[(2, "x\x00y", "not JSON")]))

    # Then the event, its ticket and the bad line are all stored
    assert Event.objects.get().payload["data"]["note"] == "a\ufffdb"
    assert TicketRequest.objects.count() == 1
    assert ErrorLog.objects.get().raw == "x\\x00y"


def test_a_batch_that_fails_unexpectedly_is_kept_whole_as_a_job_failure(example_rules):
    # Given a hub whose events table is missing (a half-applied deploy)
    from django.db import connection

    from notifications.models import JobFailure
    from pipeline.tasks import process_cdc_batch_task

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event RENAME TO notifications_event_away")
    payload = batch([refund(1, 10)])

    # When a batch is processed by the task
    result = process_cdc_batch_task.apply(args=[payload])

    # Then the task fails, and the batch is kept, whole, for replay
    assert result.failed()
    failure = JobFailure.objects.get()
    assert failure.batch is not None and failure.ticket_request is None
    assert [p.event["data"]["id"] for p in stored_lines(failure.batch).parsed] == [1]
    assert "notifications_event" in failure.last_error

    # and once the table is back, replaying it records the event and asks for its ticket, once
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event_away RENAME TO notifications_event")
    call_command("replay_dead_letters")
    call_command("replay_dead_letters")
    assert Event.objects.count() == 1 and TicketRequest.objects.count() == 1
    failure.refresh_from_db()
    assert failure.state == JobFailure.State.REPLAYED


def inventory(sku: int, ts: int, xid: int) -> str:
    return json.dumps(
        {
            "database": "shop",
            "table": "inventory",
            "type": "update",
            "ts": ts,
            "xid": xid,
            "primary_key": [sku],
            "data": {"sku": f"SKU-{sku}", "qty": 1},
            "old": {"qty": 2},
        }
    )


def test_a_digest_window_opens_with_its_first_event_and_later_ones_join_it(example_rules):
    # Given the example's inventory-churn rule: group by env, database, table; 10 minute window
    start = 1763700300  # not on a 10-minute boundary: the window starts with the first event

    # When updates come over 15 minutes, in three batches
    first = process_cdc_batch(batch([inventory(i, start + i, i) for i in range(1, 6)]))
    second = process_cdc_batch(batch([inventory(i, start + 500 + i, 100 + i) for i in range(1, 4)]))
    third = process_cdc_batch(batch([inventory(i, start + 900 + i, 200 + i) for i in range(1, 3)]))

    # Then the first opens a ticket, the second joins it (inside 10 minutes of the first event),
    # and the third, past the window, opens the next one
    requests = list(TicketRequest.objects.filter(rule_name="inventory-churn").order_by("id"))
    assert (len(first.new_requests), len(second.new_requests), len(third.new_requests)) == (1, 0, 1)
    assert second.joined_requests == [requests[0].pk]
    assert [r.events.count() for r in requests] == [8, 2]
    assert requests[0].window_ends_at.timestamp() == start + 1 + 600


def test_one_batch_spanning_two_windows_opens_two_tickets(example_rules):
    start = 1763700300
    result = process_cdc_batch(
        batch([inventory(1, start, 1), inventory(2, start + 700, 2), inventory(3, start + 10, 3)])
    )
    assert len(result.new_requests) == 2
    counts = sorted(r.events.count() for r in TicketRequest.objects.filter(rule_name="inventory-churn"))
    assert counts == [1, 2]


def test_a_grouped_rule_renders_only_the_event_that_opens_its_ticket():
    # Given a grouped rule whose summary renders empty (its error) for events without a name
    import_rules(
        """
rules:
  - name: grouped
    match: {database: shop, table: stock}
    ticket: {project: OPS, summary: "{{ data.name }}"}
    group_by: [env, database, table]
    group_window: 10m
"""
    )

    def stock(xid: int, **data) -> str:
        return json.dumps({"database": "shop", "table": "stock", "type": "update", "ts": 1763700000 + xid,
                           "xid": xid, "data": {"id": xid, **data}})  # fmt: skip

    # When the first event cannot be rendered, the second can, and the third would not be
    process_cdc_batch(batch([stock(1), stock(2, name="Opened by 2"), stock(3)]))

    # Then the second opens the ticket and the third joins it without being rendered
    request = TicketRequest.objects.get()
    assert request.fields["summary"] == "Opened by 2"
    assert sorted(request.events.values_list("payload__data__id", flat=True)) == [2, 3]
    errors = ErrorLog.objects.filter(kind=ErrorLog.Kind.TEMPLATE)
    assert [e.where.rsplit(" ", 1)[1] for e in errors] == ["1"], "only the event that tried to open it"


def test_a_bad_line_from_a_long_origin_with_text_postgresql_cannot_hold_is_recorded():
    # Given a batch by hand whose origin and rejected line hold NUL and a lone surrogate
    payload = batch([], rejects=[(1, "x\x00\ud800" * 30_000, "not JSON")])
    payload["origin"] = "host-\ud800\x00-" + "o" * 300

    # When it is processed, Then the line is a bad-input record, its text escaped and cut
    process_cdc_batch(payload)
    error = ErrorLog.objects.get()
    assert len(error.where) <= 255 and "\\ud800" in error.where
    assert error.raw.startswith("x\\x00\\ud800") and error.raw.endswith("more characters not kept]")
