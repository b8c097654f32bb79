import datetime as dt
import itertools
import uuid

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from django_celery_results.models import GroupResult, TaskResult

from hub.celery import app
from hub.retention import CARRIED_OVER, RETENTION, aggregate_daily_stats, prune
from hub.tasks import aggregate_daily_stats_task, prune_task
from jira_bridge.models import DeliveryAttempt, TicketRequest
from notifications.models import AuditEntry, DailyStat, ErrorLog, Event, JobFailure, Notification
from receivers.outbox.models import OutboxTicket

pytestmark = pytest.mark.django_db
numbers = itertools.count(1)


def new_event() -> Event:
    n = next(numbers)
    return Event.objects.create(
        environment="prod", event_id=f"test-{n}", type="insert", payload={"n": n}, outcome="matched"
    )


def new_request(state: str = "created", **fields) -> TicketRequest:
    fields = {"rule_name": "prod-refunds", "environment": "prod", "source": "cdc", **fields}
    return TicketRequest.objects.create(key=f"key-{next(numbers)}", fields={}, state=state, **fields)


def new_job_failure(state: str) -> JobFailure:
    return JobFailure.objects.create(task_name="jira_bridge.create_ticket", state=state)


def age(record, field: str, days: float) -> None:
    """Make ``record`` look ``days`` old by its ``field`` (update: auto_now does not interfere)."""
    when = timezone.now() - dt.timedelta(days=days)
    if type(record)._meta.get_field(field).get_internal_type() == "DateField":
        when = when.date()
    type(record).objects.filter(pk=record.pk).update(**{field: when})


KINDS = {
    "event": (new_event, "received_at", "HUB_RETENTION_DAYS"),
    "error log": (
        lambda: ErrorLog.objects.create(kind="bad_input", source="cdc", message="bad"),
        "created_at",
        "HUB_RETENTION_DAYS",
    ),
    "audit entry": (
        lambda: AuditEntry.objects.create(action=AuditEntry.RULES_IMPORTED, summary="s"),
        "created_at",
        "HUB_RETENTION_DAYS",
    ),
    "notification": (lambda: Notification.objects.create(title="t"), "created_at", "HUB_RETENTION_DAYS"),
    "replayed job failure": (lambda: new_job_failure("replayed"), "updated_at", "HUB_RETENTION_DAYS"),
    "resolved job failure": (lambda: new_job_failure("resolved"), "updated_at", "HUB_RETENTION_DAYS"),
    "task result": (
        lambda: TaskResult.objects.create(task_id=str(uuid.uuid4()), status="SUCCESS"),
        "date_done",
        "HUB_RESULT_RETENTION_DAYS",
    ),
    "group result": (
        lambda: GroupResult.objects.create(group_id=str(uuid.uuid4())),
        "date_done",
        "HUB_RESULT_RETENTION_DAYS",
    ),
    "created ticket request": (lambda: new_request("created"), "updated_at", "HUB_LEDGER_RETENTION_DAYS"),
    "failed ticket request": (lambda: new_request("failed"), "updated_at", "HUB_LEDGER_RETENTION_DAYS"),
    "outbox ticket": (
        lambda: OutboxTicket.objects.create(fields={}),
        "created_at",
        "HUB_LEDGER_RETENTION_DAYS",
    ),
    "daily stat": (
        lambda: DailyStat.objects.create(
            day=timezone.now().date(), environment="prod", source="cdc", rule=f"r{next(numbers)}"
        ),
        "day",
        "HUB_STATS_RETENTION_DAYS",
    ),
}


@pytest.mark.parametrize("make, field, days", KINDS.values(), ids=KINDS.keys())
def test_records_past_their_retention_are_pruned_and_newer_ones_kept(make, field, days, settings):
    old, new = make(), make()
    age(old, field, getattr(settings, days) + 1)
    age(new, field, getattr(settings, days) - 1)

    counts = prune()

    model = type(old)
    label = model._meta.label
    assert not model.objects.filter(pk=old.pk).exists(), f"a {label} past {days} is deleted"
    assert model.objects.filter(pk=new.pk).exists(), f"a {label} within {days} is kept"
    assert counts[label] == 1, f"the count for {label} says one went"


def test_failed_job_failures_are_kept_however_old():
    failure = new_job_failure("failed")
    age(failure, "updated_at", 10_000)
    age(failure, "created_at", 10_000)

    prune()

    assert JobFailure.objects.filter(pk=failure.pk).exists(), "a failed job failure waits for its replay"


@pytest.mark.parametrize("state", ["reserved", "creating", "ambiguous"])
def test_ticket_requests_not_yet_settled_are_kept_however_old(state):
    request = new_request(state)
    age(request, "updated_at", 10_000)

    prune()

    assert TicketRequest.objects.filter(pk=request.pk).exists(), f"a {state} request is still in the ledger"


def test_a_failed_request_whose_dead_letter_awaits_replay_is_kept(settings):
    waiting, replayed = new_request("failed"), new_request("failed")
    for request, state in ((waiting, "failed"), (replayed, "replayed")):
        failure = JobFailure.objects.create(task_name="t", ticket_request=request, state=state)
        age(failure, "updated_at", settings.HUB_RETENTION_DAYS + 1)
        age(request, "updated_at", settings.HUB_LEDGER_RETENTION_DAYS + 1)

    prune()

    assert TicketRequest.objects.filter(pk=waiting.pk).exists(), "its dead letter could not be replayed"
    assert not TicketRequest.objects.filter(pk=replayed.pk).exists(), "its dead letter settled and went first"
    connection.check_constraints()  # raises if a failure still points at a deleted request


def test_batches_smaller_than_the_backlog_still_delete_everything(settings):
    settings.HUB_PRUNE_BATCH = 3
    old = [new_event() for _ in range(10)]
    new = [new_event() for _ in range(2)]
    for event in old:
        age(event, "received_at", settings.HUB_RETENTION_DAYS + 1)

    counts = prune()

    assert counts["notifications.Event"] == 10
    assert set(Event.objects.values_list("pk", flat=True)) == {e.pk for e in new}, (
        "four batches, all old gone"
    )


def test_pruning_events_removes_their_links_to_ticket_requests(settings):
    old, new = new_event(), new_event()
    request = new_request("reserved")
    request.events.add(old, new)
    age(old, "received_at", settings.HUB_RETENTION_DAYS + 1)

    prune()

    assert list(request.events.all()) == [new], "the old event's link went with it"
    connection.check_constraints()  # raises if a link still points at a deleted event


def test_pruning_ticket_requests_removes_their_links_to_events_and_their_attempts(settings):
    event = new_event()
    old, new = new_request("created"), new_request("created")
    for request in (old, new):
        request.events.add(event)
        request.tries.create(outcome="created", duration_ms=40)
    age(old, "updated_at", settings.HUB_LEDGER_RETENTION_DAYS + 1)

    prune()

    assert list(event.ticket_requests.all()) == [new], "the old request's link went with it"
    assert list(DeliveryAttempt.objects.values_list("request_id", flat=True)) == [new.pk]
    connection.check_constraints()  # raises if a link still points at a deleted request


def test_every_link_to_a_pruned_model_is_removed_with_it():
    for retention in RETENTION:
        model = retention.model
        pointing = {
            (relation.related_model, relation.field.column)
            for relation in model._meta.get_fields(include_hidden=True)
            if relation.auto_created
            and not relation.concrete
            and (relation.one_to_many or relation.one_to_one)
        }
        declared = set(retention.links) | set(retention.kept_while)
        assert pointing == declared, f"rows pointing at {model._meta.label} would block its prune"


def test_a_prune_writes_one_audit_entry_saying_what_went(settings):
    for record, field in (
        (new_event(), "received_at"),
        (Notification.objects.create(title="t"), "created_at"),
    ):
        age(record, field, settings.HUB_RETENTION_DAYS + 1)

    prune()
    prune()  # nothing left: no second entry

    entry = AuditEntry.objects.get(action=AuditEntry.RECORDS_PRUNED)
    assert entry.extra["deleted"] == {"notifications.Event": 1, "notifications.Notification": 1}
    assert entry.summary == (
        "pruned 2 records past their retention: 1 notifications.Event, 1 notifications.Notification"
    )


def test_the_dry_run_counts_and_deletes_nothing(settings, capsys):
    events = [new_event() for _ in range(2)]
    for event in events:
        age(event, "received_at", settings.HUB_RETENTION_DAYS + 1)

    call_command("prune_records", "--dry-run")

    out = capsys.readouterr().out.splitlines()
    assert "notifications.Event: 2 would be deleted" in out
    assert out[-1] == "dry run: 2 records would be deleted"
    assert Event.objects.count() == 2, "a dry run deletes nothing"
    assert not AuditEntry.objects.filter(action=AuditEntry.RECORDS_PRUNED).exists()

    call_command("prune_records")

    assert capsys.readouterr().out.splitlines()[-1] == "2 records deleted"
    assert Event.objects.count() == 0


def test_the_system_check_and_prune_refuse_a_retention_of_zero_days(settings):
    settings.HUB_RETENTION_DAYS = 0
    event = new_event()

    errors = [e for e in checks.run_checks() if e.id == "hub.E001"]

    assert [e.msg for e in errors] == ["HUB_RETENTION_DAYS is 0: records must be kept at least 1 day"]
    with pytest.raises(ImproperlyConfigured, match="HUB_RETENTION_DAYS is 0"):
        prune()
    assert Event.objects.filter(pk=event.pk).exists(), "nothing deleted under a refused setting"


NOW = dt.datetime(2026, 3, 10, 18, 0, tzinfo=dt.UTC)
TODAY, YESTERDAY = NOW.date(), NOW.date() - dt.timedelta(days=1)


def sent(latency_ms: int, rule: str = "prod-refunds", day: dt.date = TODAY, **fields) -> TicketRequest:
    created = dt.datetime.combine(day, dt.time(9), dt.UTC)
    return new_request(
        "created",
        rule_name=rule,
        created_at=created,
        sent_at=created + dt.timedelta(milliseconds=latency_ms),
        **fields,
    )


def test_latency_percentiles_per_day_environment_source_and_rule():
    for ms in range(100, 1001, 100):
        sent(ms)
    sent(2000, rule="other-rule")
    sent(3000, environment="staging")
    sent(300, day=YESTERDAY)
    sent(5000, day=TODAY - dt.timedelta(days=2))  # outside the two days aggregated
    new_request("reserved", created_at=NOW)  # not sent: no latency yet

    touched = aggregate_daily_stats(days=2, now=NOW)

    latencies = {
        (s.day, s.environment, s.rule): (s.latency_p50_ms, s.latency_p95_ms) for s in DailyStat.objects.all()
    }
    assert latencies == {
        (TODAY, "prod", "prod-refunds"): (550.0, 955.0),
        (TODAY, "prod", "other-rule"): (2000.0, 2000.0),
        (TODAY, "staging", "prod-refunds"): (3000.0, 3000.0),
        (YESTERDAY, "prod", "prod-refunds"): (300.0, 300.0),
    }, "percentile_cont over 100..1000 ms is 550 (p50) and 955 (p95)"
    assert touched == 4


def test_aggregation_leaves_the_counters_alone():
    DailyStat.objects.create(
        day=TODAY, environment="prod", source="cdc", rule="prod-refunds", events=12, matched=11, tickets=2
    )
    sent(100)
    sent(300)

    aggregate_daily_stats(now=NOW)
    sent(800)
    aggregate_daily_stats(now=NOW)

    stat = DailyStat.objects.get()
    assert (stat.events, stat.matched, stat.tickets, stat.failures) == (12, 11, 2, 0), "counters unchanged"
    assert (stat.latency_p50_ms, stat.latency_p95_ms) == (300.0, 750.0), (
        "latencies redone with the new ticket"
    )


def test_beat_runs_the_tasks_on_the_maintenance_queue(settings):
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for task in (aggregate_daily_stats_task, prune_task):
        assert task.name in scheduled, f"{task.name} is in the beat schedule"
        queue = app.amqp.router.route({}, task.name)["queue"].name
        assert queue == settings.MAINTENANCE_QUEUE, f"{task.name} goes to {queue}"


def test_pruned_daily_statistics_are_carried_over_so_totals_never_go_down(settings):
    old_day = timezone.now().date() - dt.timedelta(days=settings.HUB_STATS_RETENTION_DAYS + 5)
    for rule, events in (("a", 5), ("b", 7)):
        DailyStat.objects.create(
            day=old_day, environment="prod", source="cdc", rule=rule, events=events, tickets=1
        )
    DailyStat.objects.create(day=timezone.now().date(), environment="prod", source="cdc", events=100)

    prune()
    prune()  # twice: the carried-over row itself is never pruned nor counted twice

    assert not DailyStat.objects.filter(day=old_day).exists()
    carried = DailyStat.objects.get(day=CARRIED_OVER)
    assert (carried.events, carried.tickets, carried.rule) == (12, 2, ""), (
        "old days summed per env and source"
    )
    assert DailyStat.objects.aggregate(total=Sum("events"))["total"] == 112, "totals over all time unchanged"


def test_an_outbox_ticket_stays_while_its_request_holds_its_key(settings):
    kept, freed = OutboxTicket.objects.create(fields={}), OutboxTicket.objects.create(fields={})
    TicketRequest.objects.create(key="held", rule_name="r", environment="prod", fields={}, state="created",
                                 jira_key=kept.key)  # fmt: skip
    for ticket in (kept, freed):
        age(ticket, "created_at", settings.HUB_LEDGER_RETENTION_DAYS + 1)

    prune()

    assert OutboxTicket.objects.filter(pk=kept.pk).exists(), "its request still links to it"
    assert not OutboxTicket.objects.filter(pk=freed.pk).exists()
