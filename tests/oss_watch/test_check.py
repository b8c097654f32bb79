"""Checks of a watched bucket: the real ``oss2`` client against the fake OSS."""

import threading

import pytest
from django.db import connections
from kombu.exceptions import OperationalError

from jira_bridge.models import TicketRequest
from notifications.models import ErrorLog, Event
from oss_watch.check import check_bucket
from oss_watch.events import oss_batch, process_oss_batch
from oss_watch.listing import ListingError, OssLister, lister_for
from oss_watch.models import ObjectFingerprint, WatchedBucket
from oss_watch.tasks import check_bucket_task
from rules.importing import import_rules
from tests.conftest import EXAMPLES, wait_for
from tests.fakes.oss import FakeOSS

pytestmark = pytest.mark.django_db


@pytest.fixture
def oss(monkeypatch):
    monkeypatch.setenv("TEST_OSS_AK", "test-ak")
    monkeypatch.setenv("TEST_OSS_SK", "test-secret")
    with FakeOSS() as fake:
        fake.buckets["drop"] = {}
        yield fake


@pytest.fixture
def watched(oss) -> WatchedBucket:
    return WatchedBucket.objects.create(
        environment="prod", endpoint=oss.url, bucket="drop", prefix="in/",
        access_key_env="TEST_OSS_AK", secret_key_env="TEST_OSS_SK",
    )  # fmt: skip


class Emitted(list):
    def __call__(self, changes):
        self.append(list(changes))

    @property
    def changes(self):
        return sorted((c["change"], c["key"]) for batch in self for c in batch)


def check(watched) -> tuple:
    emitted = Emitted()
    watched.refresh_from_db()
    result = check_bucket(watched, lister_for(watched), emitted)
    return result, emitted


def test_the_first_check_records_a_baseline_without_events(oss, watched):
    for i in range(3):
        oss.put("drop", f"in/{i}.csv", f"e{i}")
    oss.put("drop", "elsewhere.csv", "x")  # outside the prefix

    result, emitted = check(watched)

    assert (result.listed, result.baseline, emitted) == (3, True, [])
    assert sorted(ObjectFingerprint.objects.values_list("key", flat=True)) == [
        "in/0.csv",
        "in/1.csv",
        "in/2.csv",
    ]
    watched.refresh_from_db()
    assert (watched.baselined, watched.objects_known, watched.last_error) == (True, 3, "")


def test_objects_added_changed_and_deleted_between_checks_become_events(oss, watched):
    for i in range(2500):  # three pages of at most 1,000
        oss.put("drop", f"in/{i:05d}.csv", "v1")
    check(watched)
    oss.put("drop", "in/00007.csv", "v2")
    oss.delete("drop", "in/01000.csv")
    oss.put("drop", "in/new file.csv", "v1")
    oss.list_calls = 0

    result, emitted = check(watched)

    assert emitted.changes == [
        ("created", "in/new file.csv"),
        ("deleted", "in/01000.csv"),
        ("modified", "in/00007.csv"),
    ]
    assert (result.calls, oss.list_calls) == (3, 3), "ceil(2500 / 1000) list calls"
    assert ObjectFingerprint.objects.count() == 2500


def test_keys_with_spaces_and_non_ascii_round_trip(oss, watched):
    check(watched)
    key = "in/报告 2026/文件 a+b%20c.csv"
    oss.put("drop", key, "e1")
    _, emitted = check(watched)
    assert emitted.changes == [("created", key)]


def test_a_listing_that_fails_part_way_is_recorded_and_deletes_nothing(oss, watched):
    for i in range(2500):
        oss.put("drop", f"in/{i:05d}.csv", "v1")
    check(watched)
    oss.fail_next(1, 503, "ServiceUnavailable")  # the first page fails

    result, emitted = check(watched)

    assert "OSS answered 503 ServiceUnavailable" in result.error
    assert emitted == [] and ObjectFingerprint.objects.count() == 2500, (
        "a failed listing is not 'all deleted'"
    )
    watched.refresh_from_db()
    assert "503" in watched.last_error
    assert check(watched)[0].error == "", "the next check goes on"


def test_changes_whose_events_could_not_be_sent_are_found_again_by_the_next_check(oss, watched):
    # Given a recorded baseline, then a new object
    check(watched)
    oss.put("drop", "in/a.csv", "e1")

    # When a check cannot send its events (the broker is down)
    def broker_down(changes):
        raise OperationalError("broker down")

    watched.refresh_from_db()
    with pytest.raises(OperationalError):
        check_bucket(watched, lister_for(watched), broker_down)

    # Then it wrote nothing of them, and the next check finds the change and sends it
    assert not ObjectFingerprint.objects.filter(key="in/a.csv").exists(), "written but never sent"
    assert check(watched)[1].changes == [("created", "in/a.csv")]


def test_wrong_credentials_and_a_missing_bucket_are_clear_errors(oss, watched, monkeypatch):
    monkeypatch.setenv("TEST_OSS_AK", "wrong")
    assert "403 InvalidAccessKeyId" in check(watched)[0].error
    monkeypatch.setenv("TEST_OSS_AK", "test-ak")
    WatchedBucket.objects.filter(pk=watched.pk).update(bucket="gone")
    assert "404 NoSuchBucket" in check(watched)[0].error
    monkeypatch.delenv("TEST_OSS_SK")
    with pytest.raises(ListingError, match="environment variable TEST_OSS_SK is not set"):
        OssLister(watched)


def test_the_check_task_records_failures_and_never_raises(oss, watched, monkeypatch, broker):
    monkeypatch.delenv("TEST_OSS_SK")
    assert (
        check_bucket_task.apply(args=[watched.pk]).get()
        == "failed: environment variable TEST_OSS_SK is not set"
    )
    error = ErrorLog.objects.get()
    assert error.kind == ErrorLog.Kind.OSS and "TEST_OSS_SK" in error.message


def test_two_checks_of_one_bucket_never_run_at_once(oss, watched, broker):
    broker.set(f"hub:oss:check:{watched.pk}", "another-worker")
    assert check_bucket_task.apply(args=[watched.pk]).get() == "skipped: a check of this bucket is running"
    broker.delete(f"hub:oss:check:{watched.pk}")
    assert check_bucket_task.apply(args=[watched.pk]).get() == "baseline: 0 objects recorded, no events"


@pytest.mark.django_db(transaction=True)  # the check runs in a thread, on its own connection
def test_a_check_that_lost_its_lock_stops_without_writing_more_and_says_so(oss, watched, broker):
    # Given a baseline of 2,500 objects (three pages), then 600 objects of the first page modified
    for i in range(2500):
        oss.put("drop", f"in/{i:05d}.csv", "v1")
    check(watched)
    watched.refresh_from_db()
    baseline_at, baseline_etag = watched.last_checked_at, ObjectFingerprint.objects.first().etag
    for i in range(600):
        oss.put("drop", f"in/{i:05d}.csv", "v2")

    # and a check stalled in its second listing call, whose lock another check took meanwhile
    # (as if this one had been frozen past the lock's TTL)
    held, outcome = oss.hold(call=2), []

    def run_check():
        try:
            outcome.append(check_bucket_task.apply(args=[watched.pk]).get())
        finally:
            connections.close_all()

    thread = threading.Thread(target=run_check)
    thread.start()
    wait_for(held.is_set, timeout=30, message="the check reaching its second listing call")
    lock = f"hub:oss:check:{watched.pk}"
    broker.set(lock, "another-check", px=60_000)

    # When the listing answers
    oss.release()
    thread.join(timeout=60)

    # Then the check stops there and says so: the batch it wrote before is kept, nothing after
    assert outcome == [f"stopped: lost {lock}: another check may be running"], outcome
    assert ObjectFingerprint.objects.exclude(etag=baseline_etag).count() == 500, (
        "one batch of 500 written before the lock was lost, none after"
    )
    watched.refresh_from_db()
    assert watched.last_checked_at == baseline_at, "the watch's record is the other check's"
    assert "stopped, nothing more written" in ErrorLog.objects.get(kind=ErrorLog.Kind.OSS).message
    assert broker.get(lock) == b"another-check", "the other check's lock is left alone"


def test_oss_changes_go_through_the_rules_into_tickets(oss, watched):
    import_rules(
        """
rules:
  - name: new-drops
    source: oss
    match: {bucket: drop, prefix: in/reports/, change: [created]}
    ticket:
      project: OPS
      summary: "New file {{ key }} ({{ size }} bytes) in {{ bucket }}, {{ env }}"
"""
    )
    check(watched)
    oss.put("drop", "in/reports/q3.pdf", "e1", size=2048)
    oss.put("drop", "in/other/x.csv", "e1")
    _, emitted = check(watched)

    for changes in emitted:
        process_oss_batch(oss_batch("prod", "drop", "test", changes))

    request = TicketRequest.objects.get()
    assert request.fields["summary"] == "New file in/reports/q3.pdf (2048 bytes) in drop, prod"
    assert Event.objects.filter(source="oss").count() == 2
    assert request.events.get().payload["key"] == "in/reports/q3.pdf"


def test_a_local_directory_is_watched_the_same_way(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    local = WatchedBucket.objects.create(
        environment="dev", endpoint=f"file://{tmp_path}", bucket="local-drop"
    )
    check(local)
    (tmp_path / "b.txt").write_text("two")
    (tmp_path / "a.txt").write_text("one, changed")
    _, emitted = check(local)
    assert emitted.changes == [("created", "b.txt"), ("modified", "a.txt")]


def test_an_oss_payload_that_is_not_a_batch_is_recorded_as_bad_input():
    from oss_watch.tasks import process_oss_events_task

    broken = {"v": 1, "env": "prod", "bucket": "drop"}  # no "changes"
    assert process_oss_events_task.apply(args=[broken]).get()["events"] == 0
    error = ErrorLog.objects.get(kind=ErrorLog.Kind.BAD_INPUT)
    assert "needs a 'bucket' string and a 'changes' list" in error.message, error.message


def test_an_oss_batch_that_fails_whole_is_stored_and_replayed_once(oss, watched):
    # Given a change under a rule, and a hub whose events table is missing (a half-applied deploy)
    from django.core.management import call_command
    from django.db import connection

    from notifications.models import JobFailure
    from oss_watch.tasks import process_oss_events_task

    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    change = {"key": "report.txt", "etag": "e1", "change": "created", "size": 3, "last_modified": 1}
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event RENAME TO notifications_event_away")

    # When its batch is processed, it fails and is kept, with a job failure pointing at it
    assert process_oss_events_task.apply(args=[oss_batch("dev", "local-drop", "test", [change])]).failed()
    failure = JobFailure.objects.get()
    assert failure.batch.source == "oss" and failure.ticket_request is None

    # Then, the table back, replaying it twice records the event once and asks for one ticket
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE notifications_event_away RENAME TO notifications_event")
    call_command("replay_dead_letters")
    call_command("replay_dead_letters")
    assert Event.objects.filter(source="oss").count() == 1
    assert TicketRequest.objects.count() == 1, "the example rule new-drops asks for one ticket"


def test_two_long_keys_alike_for_255_characters_are_two_events(oss, watched):
    # Given two objects whose keys share their first 300 characters, under a long origin
    check(watched)
    stem = "in/" + "deep/" * 60
    oss.put("drop", stem + "a.csv", "e1")
    oss.put("drop", stem + "b.csv", "e1")
    _, emitted = check(watched)

    # When their events go through the transform
    results = [
        process_oss_batch(oss_batch("prod", "drop", "check " + "x" * 300, changes)) for changes in emitted
    ]

    # Then both are recorded: neither is taken for a redelivery of the other
    assert sum(r.events for r in results) == 2 and sum(r.duplicates for r in results) == 0
    assert Event.objects.filter(source="oss").count() == 2
    assert all(len(e.event_id) <= 255 and len(e.origin) <= 255 for e in Event.objects.all())


def test_a_malformed_bucket_name_is_a_recorded_failure_not_a_crash(oss, watched, broker):
    WatchedBucket.objects.filter(pk=watched.pk).update(bucket="My_Bucket")

    outcome = check_bucket_task.apply(args=[watched.pk]).get()

    assert outcome.startswith("failed: bad OSS endpoint or bucket name"), outcome
    assert "My_Bucket" in ErrorLog.objects.get(kind=ErrorLog.Kind.OSS).message
    watched.refresh_from_db()
    assert "bad OSS endpoint" in watched.last_error and watched.last_checked_at is not None
    assert not broker.exists(f"hub:oss:check:{watched.pk}"), "the lock is released"
