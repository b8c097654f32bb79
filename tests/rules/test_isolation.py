"""No line sinks its batch: a line the database refuses is isolated as bad input and the others go
on; a batch of which nothing can be processed is stored whole with a job failure, and replaying
it records exactly what it should have, once."""

import json

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection

from jira_bridge.models import TicketRequest
from notifications.models import DailyStat, ErrorLog, Event, JobFailure, StoredBatch
from pipeline.batches import stored_lines
from pipeline.tasks import process_cdc_batch_task
from tests.rules.test_transform import batch, refund

pytestmark = pytest.mark.django_db


def poison(xid: int) -> str:
    """A refund the database refuses (see refuse_poison): it stands for whatever nobody foresaw,
    every check of the publisher's and the hub's having passed."""
    return refund(99, xid).replace('"status": "refunded"', '"status": "refunded", "poison": true')


@pytest.fixture(autouse=True)
def refuse_poison():
    """The real PostgreSQL refusing a row: a check constraint (rolled back with the test)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE notifications_event "
            "ADD CONSTRAINT test_poison CHECK (NOT (payload->'data' ? 'poison'))"
        )


def test_a_line_the_database_refuses_is_isolated_and_every_other_line_is_processed(example_rules):
    # Given a batch of eight refunds with an unstorable line in the middle and a rejected line
    lines = (
        [refund(i, 100 + i) for i in range(1, 5)] + [poison(7)] + [refund(i, 100 + i) for i in range(5, 8)]
    )
    payload = batch(lines, rejects=[(20, "garbage", "not JSON")])

    # When the batch task runs it
    result = process_cdc_batch_task.apply(args=[payload]).get()

    # Then the seven valid events and their seven tickets exist
    assert result == {"events": 7, "duplicates": 0, "rejected": 2, "tickets": 7}, result
    assert sorted(Event.objects.values_list("payload__data__id", flat=True)) == [1, 2, 3, 4, 5, 6, 7]
    assert TicketRequest.objects.count() == 7
    # and the poison line is a bad-input record with its line number and the database's reason
    bad = ErrorLog.objects.filter(kind=ErrorLog.Kind.BAD_INPUT).order_by("context__line")
    assert [e.context["line"] for e in bad] == [5, 20], "the poison line and the rejected one, once each"
    message = bad[0].message
    assert "could not be stored or processed: IntegrityError" in message and "test_poison" in message, message
    # and nothing else changed: no job failure, the counters say 7 events and 2 bad lines
    assert not JobFailure.objects.exists()
    totals = DailyStat.objects.get(environment="prod", rule="")
    assert (totals.events, totals.bad_input) == (7, 2)


def test_a_batch_of_which_nothing_can_be_processed_is_stored_whole_and_replayed_once(example_rules):
    # Given a hub whose events table is gone (a half-applied deploy) and a batch with a rejected line
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event RENAME TO notifications_event_away")
    payload = batch([refund(1, 11), refund(2, 12)], rejects=[(3, '{"password": "hunter2"', "not JSON")])

    # When the task runs it, it fails; the batch is kept as a stored batch the failure points at
    assert process_cdc_batch_task.apply(args=[payload]).failed()
    failure = JobFailure.objects.get()
    lines = stored_lines(failure.batch)
    assert [(p.position, p.event["data"]["id"]) for p in lines.parsed] == [(1, 1), (2, 2)]
    assert [e.context["line"] for e in lines.errors] == [3]

    # When the fault is fixed and the failure is replayed from the admin, by an operator
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event_away RENAME TO notifications_event")
    operator = User.objects.create_user("olga", password="pw", is_staff=True)
    operator.groups.add(Group.objects.get(name="operators"))
    from django.test import Client

    client = Client()
    client.force_login(operator)
    response = client.post(
        "/admin/notifications/jobfailure/",
        {"action": "replay_dead_letters", "_selected_action": [failure.pk]},
        follow=True,
    )
    assert "1 batches run again (2 events recorded" in response.content.decode()

    # Then exactly its events, tickets and bad line exist
    assert Event.objects.count() == 2 and TicketRequest.objects.count() == 2
    assert ErrorLog.objects.filter(kind=ErrorLog.Kind.BAD_INPUT).count() == 1
    failure.refresh_from_db()
    assert failure.state == JobFailure.State.REPLAYED

    # and replaying the same stored batch again (by hand) doubles nothing
    from pipeline.batches import replay_batch

    again = replay_batch(failure.batch)
    assert (again.events, again.duplicates, again.new_requests) == (0, 2, [])
    assert Event.objects.count() == 2 and TicketRequest.objects.count() == 2


def test_a_single_line_the_database_refuses_is_bad_input_not_a_failure(example_rules):
    # When a batch of one poison line is processed (a quiet stream sends batches of one)
    result = process_cdc_batch_task.apply(args=[batch([poison(5)])]).get()

    # Then it is a bad-input record with its reason, and nothing waits for a replay
    assert result["rejected"] == 1 and not JobFailure.objects.exists()
    error = ErrorLog.objects.get(kind=ErrorLog.Kind.BAD_INPUT)
    assert error.context["line"] == 1 and "test_poison" in error.message


def test_a_replay_that_meets_the_fault_again_leaves_the_failure_waiting(example_rules):
    # Given a stored batch (its events table was gone when it came)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event RENAME TO notifications_event_away")
    assert process_cdc_batch_task.apply(args=[batch([refund(1, 11), refund(2, 12)])]).failed()
    failure = JobFailure.objects.get()

    # When it is replayed before the fault is fixed
    call_command("replay_dead_letters")

    # Then nothing is lost: the failure still waits, with the attempt recorded, and no line was
    # taken for bad input
    failure.refresh_from_db()
    assert failure.state == JobFailure.State.FAILED and len(failure.attempts) == 2, failure.attempts
    assert "replay by manage.py replay_dead_letters" in failure.attempts[-1]["error"]
    assert not ErrorLog.objects.filter(kind=ErrorLog.Kind.BAD_INPUT).exists()

    # and once the fault is fixed, a replay records both events, and a second one does nothing
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event_away RENAME TO notifications_event")
    call_command("replay_dead_letters")
    call_command("replay_dead_letters", "--id", str(failure.pk))
    assert Event.objects.count() == 2 and TicketRequest.objects.count() == 2
    failure.refresh_from_db()
    assert failure.state == JobFailure.State.REPLAYED and len(failure.attempts) == 3


def test_a_dry_run_counts_batches_and_changes_nothing(example_rules, capsys):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event RENAME TO notifications_event_away")
    assert process_cdc_batch_task.apply(args=[batch([refund(1, 11)])]).failed()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event_away RENAME TO notifications_event")

    call_command("replay_dead_letters", "--dry-run")

    assert "dry run: 1 dead letters: 0 would be created, 0 already exist, 1 batches run again" in (
        capsys.readouterr().out
    )
    assert not Event.objects.exists() and JobFailure.objects.get().state == JobFailure.State.FAILED


def test_a_stored_batch_keeps_numbers_exact_and_secrets_out():
    # Given a batch that fails whole, one of whose events holds a secret inside a JSON column
    line = json.dumps(
        {
            "database": "shop", "table": "users", "type": "insert", "ts": 1, "xid": 1,
            "data": {"id": 1, "prefs": {"api_token": "tok-123", "deep": [{"password": "pw-456"}]}},
        }
    ).replace('"id": 1,', '"id": 1, "balance": 12345678901234567.123456789,')  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event RENAME TO notifications_event_away")
    assert process_cdc_batch_task.apply(args=[batch([line])]).failed()

    # Then what is stored holds the exact number and neither secret
    stored = StoredBatch.objects.get().events
    assert "12345678901234567.123456789" in stored
    assert "tok-123" not in stored and "pw-456" not in stored, stored


def test_a_stored_batch_replays_from_the_error_viewer_and_the_api(example_rules):
    # Given two stored batches (the events table was gone when they came)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event RENAME TO notifications_event_away")
    for xid in (21, 22):
        assert process_cdc_batch_task.apply(args=[batch([refund(xid, xid)])]).failed()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event_away RENAME TO notifications_event")
    first, second = JobFailure.objects.order_by("id")
    operator = User.objects.create_user("olga", password="pw", is_staff=True)
    operator.groups.add(Group.objects.get(name="operators"))
    from django.test import Client

    client = Client()
    client.force_login(operator)

    # When one is replayed with the error viewer's button and the other through the API
    assert client.post(f"/failures/{first.pk}/replay/").status_code == 302
    answer = client.post(f"/api/failures/{second.pk}/replay")

    # Then both are settled and their events and tickets exist once
    assert answer.status_code == 200 and answer.json()["state"] == "replayed", answer.content
    assert "1 batches run again (1 events recorded" in answer.json()["summary"]
    assert set(JobFailure.objects.values_list("state", flat=True)) == {"replayed"}
    assert sorted(Event.objects.values_list("payload__data__id", flat=True)) == [21, 22]
    assert TicketRequest.objects.count() == 2


def test_a_replayed_batch_is_not_run_again(example_rules):
    # Given a stored batch, replayed once the fault was fixed
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event RENAME TO notifications_event_away")
    payload = batch([refund(1, 11)], rejects=[(2, "garbage", "not JSON")])
    assert process_cdc_batch_task.apply(args=[payload]).failed()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event_away RENAME TO notifications_event")
    failure = JobFailure.objects.get()
    call_command("replay_dead_letters", "--id", str(failure.pk))

    # When an operator replays it again (from the API or the error viewer, which take any failure)
    from pipeline.replay import replay_one

    plan, _ = replay_one(failure.pk, actor="olga")

    # Then nothing is recorded twice: its bad line is one record, not two
    assert plan.batches == [] and plan.other == [failure.pk]
    assert ErrorLog.objects.filter(kind=ErrorLog.Kind.BAD_INPUT).count() == 1


def test_a_dead_letter_made_before_jiras_limits_were_applied_is_fitted_when_replayed():
    # Given a failed request whose description is longer than Jira takes (from an older hub)
    from receivers.jira.limits import TEXT_MAX

    request = TicketRequest.objects.create(
        key="k" * 40, rule_name="r", environment="prod", state="failed",
        fields={"summary": "a\nb", "description": "x" * 40_000},
    )  # fmt: skip
    JobFailure.objects.create(task_name="jira_bridge.create_ticket", ticket_request=request)

    # When it is replayed
    call_command("replay_dead_letters")

    # Then what will be sent is within Jira's limits, and the full text is kept
    request.refresh_from_db()
    assert request.state == "reserved" and request.fields["summary"] == "a b"
    assert len(request.fields["description"]) <= TEXT_MAX and "/tickets/key/" in request.fields["description"]
    assert request.full_description == "x" * 40_000


def test_a_batch_past_its_time_limit_is_kept_and_replays_once(example_rules, settings):
    # Given a time limit every batch passes at once
    settings.HUB_BATCH_SECONDS = 1e-9

    # When a batch runs, it stops between events and is kept, with its job failure
    assert process_cdc_batch_task.apply(args=[batch([refund(1, 11), refund(2, 12)])]).failed()
    failure = JobFailure.objects.get()
    assert "time limit" in failure.last_error and failure.batch is not None
    assert not Event.objects.exists(), "stopped before its first event"

    # Then a replay (which has no time limit: an operator waits for it) records both, once
    call_command("replay_dead_letters")
    assert Event.objects.count() == 2 and TicketRequest.objects.count() == 2


def test_an_oss_change_that_is_not_one_is_bad_input_and_the_others_go_on(example_rules):
    from oss_watch.events import oss_batch
    from oss_watch.tasks import process_oss_events_task

    good = {"key": "report.txt", "etag": "e1", "change": "created", "size": 3, "last_modified": 1}
    changes = [good, {"key": 7, "etag": "e2", "change": "created"}, "not a change"]
    result = process_oss_events_task.apply(args=[oss_batch("dev", "local-drop", "test", changes)]).get()

    assert (result["events"], result["rejected"]) == (1, 2), result
    reasons = sorted(e.context["line"] for e in ErrorLog.objects.filter(kind=ErrorLog.Kind.BAD_INPUT))
    assert reasons == [2, 3] and TicketRequest.objects.count() == 1
