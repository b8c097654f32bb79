import datetime as dt
import json

import pytest
from django.core.exceptions import ValidationError

from jira_bridge.models import TicketRequest
from notifications.models import DailyStat, Event
from pipeline.batches import process_cdc_batch
from rules.importing import import_rules
from rules.models import Rule, Silence
from tests.conftest import EXAMPLES

UTC = dt.UTC
SATURDAY_3AM = dt.datetime(2026, 11, 21, 3, 0, tzinfo=UTC)  # 2026-11-21 is a Saturday


@pytest.mark.parametrize(
    ("silence", "at", "held"),
    [
        (Silence(until=SATURDAY_3AM), SATURDAY_3AM - dt.timedelta(seconds=1), True),
        (Silence(until=SATURDAY_3AM), SATURDAY_3AM, False),
        (Silence(starts=dt.time(2), ends=dt.time(4)), SATURDAY_3AM, True),
        (Silence(starts=dt.time(2), ends=dt.time(4)), SATURDAY_3AM.replace(hour=4), False),
        (Silence(starts=dt.time(2), ends=dt.time(4), weekdays="sun"), SATURDAY_3AM, False),
        (Silence(starts=dt.time(2), ends=dt.time(4), weekdays="sat,sun"), SATURDAY_3AM, True),
        # a window across midnight belongs to the day it starts on: Friday 23:00 - 04:00
        (Silence(starts=dt.time(23), ends=dt.time(4), weekdays="fri"), SATURDAY_3AM, True),
        (Silence(starts=dt.time(23), ends=dt.time(4), weekdays="sat"), SATURDAY_3AM, False),
        (Silence(starts=dt.time(2), ends=dt.time(4), until=SATURDAY_3AM), SATURDAY_3AM, False),
        (Silence(starts=dt.time(2), ends=dt.time(4), enabled=False), SATURDAY_3AM, False),
    ],
)
def test_when_a_silence_holds(silence, at, held):
    assert silence.covers(1, "prod", "shop", "orders", at) is held


def test_a_silence_holds_only_its_scope():
    silence = Silence(rule_id=1, environment="prod", table="orders", until=SATURDAY_3AM)
    early = SATURDAY_3AM - dt.timedelta(hours=1)
    assert silence.covers(1, "prod", "shop", "orders", early)
    assert not silence.covers(2, "prod", "shop", "orders", early)
    assert not silence.covers(1, "dev", "shop", "orders", early)
    assert not silence.covers(1, "prod", "shop", "customers", early)


def test_a_silence_needs_an_end_or_a_window():
    with pytest.raises(ValidationError):
        Silence(reason="x").clean()
    with pytest.raises(ValidationError):
        Silence(reason="x", starts=dt.time(1)).clean()
    with pytest.raises(ValidationError):
        Silence(reason="x", starts=dt.time(1), ends=dt.time(2), weekdays="someday").clean()


@pytest.mark.django_db
def test_silenced_events_are_recorded_and_counted_but_ask_for_no_ticket():
    # Given the example rules and a silence on the refunds rule during a maintenance window
    import_rules((EXAMPLES / "rules.yaml").read_text())
    silence = Silence.objects.create(
        rule=Rule.objects.get(name="prod-refunds"), environment="prod", starts=dt.time(2), ends=dt.time(4),
        reason="nightly maintenance",
    )  # fmt: skip
    at_3am = int(SATURDAY_3AM.timestamp())

    def refund(order: int, ts: int) -> str:
        data = {"id": order, "status": "refunded"}
        return json.dumps({"database": "shop", "table": "orders", "type": "update", "ts": ts, "xid": order,
                           "data": data, "old": {"status": "paid"}})  # fmt: skip

    # When a refund happens in the window and one after it
    batch = {"v": 1, "env": "prod", "source": "maxwell", "origin": "t", "rejects": [],
             "events": [[1, refund(1, at_3am)], [2, refund(2, at_3am + 7200)]]}  # fmt: skip
    result = process_cdc_batch(batch)

    # Then only the second asks for a ticket; the first is kept, marked and counted
    assert len(result.new_requests) == 1
    assert TicketRequest.objects.get().fields["summary"] == "Order 2 refunded in prod"
    assert Event.objects.get(payload__data__id=1).outcome == Event.Outcome.SILENCED
    assert DailyStat.objects.get(rule="prod-refunds").silenced == 1
    silence.refresh_from_db()
    assert silence.silenced_events == 1
