"""The same batch delivered to two workers at once: the second one's insert meets the first's
rows, fails on the unique event ids, and its second pass drops them as redeliveries."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from cdc_publisher.events import event_identity, parse_event
from notifications.models import Event
from notifications.records import record_events
from pipeline.tasks import process_cdc_batch_task
from tests.rules.test_transform import batch, refund

pytestmark = pytest.mark.django_db(transaction=True)


def stored(line: str) -> Event:
    event = parse_event(line)
    return Event(environment="prod", event_id=event_identity("prod", event, line), type="update",
                 outcome="unmatched", payload=event)  # fmt: skip


def test_a_copy_that_meets_an_existing_event_id_raises_djangos_integrity_error():
    line = refund(1, 10)
    record_events([stored(line)])
    with pytest.raises(IntegrityError), transaction.atomic():
        record_events([stored(line)])


def test_a_batch_racing_its_twin_is_recorded_once_and_counted_as_duplicates(broker):
    lines = [refund(1, 10), refund(2, 11)]
    holding, release = threading.Event(), threading.Event()

    def other_worker() -> None:  # stores the same events, commits only when told
        with transaction.atomic():
            record_events([stored(line) for line in lines])
            holding.set()
            release.wait(30)
        connection.close()

    twin = threading.Thread(target=other_worker)
    twin.start()
    assert holding.wait(30)
    threading.Timer(1.0, release.set).start()  # commits while our insert waits on its rows

    result = process_cdc_batch_task.apply(args=[batch(lines)]).get()
    twin.join(30)

    assert result["events"] == 0 and result["duplicates"] == 2, result
    assert Event.objects.count() == 2, "each event stored once"
