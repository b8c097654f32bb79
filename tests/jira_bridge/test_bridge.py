"""The bridge, one step at a time: the real ``jira`` client against the fake Jira, the ledger in
PostgreSQL, the budget and the breaker in Redis."""

import time
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from jira_bridge.bridge import claim_update_slot
from jira_bridge.models import TicketRequest
from notifications.models import AuditEntry, DailyStat, JobFailure, Notification
from receivers.jira import JiraReceiver
from receivers.jira.limits import marker_label
from receivers.outbox.models import OutboxTicket
from tests.conftest import outcomes_of
from tests.jira_bridge.conftest import TICKET, run_until_settled

pytestmark = pytest.mark.django_db


def test_it_creates_the_issue_with_its_marker_and_records_the_key(
    fake_jira, jira_client, make_bridge, make_request
):
    bridge, request_id = make_bridge(jira_client), make_request()

    step = bridge.create(request_id)

    request = TicketRequest.objects.get()
    assert (step.state, step.follow_up, request.state, request.jira_key) == (
        "created",
        True,
        "created",
        "OPS-1",
    )
    assert fake_jira.issues["OPS-1"]["fields"] == request.fields, "Jira gets exactly the stored fields"
    assert request.fields["labels"] == ["cdc", marker_label(request.key)]
    assert AuditEntry.objects.filter(action=AuditEntry.TICKET_CREATED, object_id=str(request_id)).exists()
    assert Notification.objects.get().title == "OPS-1 created: Order 7 refunded in prod"
    assert DailyStat.objects.get(rule="prod-refunds").tickets == 1

    # and the follow-up puts the full key in an issue property
    assert bridge.update(request_id).retry_in is None
    assert fake_jira.properties["OPS-1"]["hub.request"] == {"key": request.key, "rule": "prod-refunds"}


def test_a_created_request_is_never_sent_again(fake_jira, jira_client, make_bridge, make_request):
    bridge, request_id = make_bridge(jira_client), make_request()
    bridge.create(request_id)

    assert bridge.create(request_id).state == "created"
    assert len(fake_jira.creates()) == 1


def test_an_unreachable_jira_is_retried_as_nothing_was_sent(make_bridge, make_request):
    bridge = make_bridge(JiraReceiver("http://127.0.0.1:9", "hub-bot", "t", timeout=1))  # nothing on port 9
    step = bridge.create(make_request())

    assert (step.state, step.retry_in > 0) == ("reserved", True)
    assert outcomes_of(TicketRequest.objects.get())[-1] == "transient"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_on_create_is_unclear_so_the_marker_is_looked_for_before_creating_again(
    fake_jira, jira_client, make_bridge, make_request, settings, status
):
    settings.JIRA_RECONCILE_WINDOW = 0.3
    fake_jira.fail_next(1, status)
    bridge, request_id = make_bridge(jira_client), make_request()

    steps = run_until_settled(bridge.create, request_id)

    outcomes = outcomes_of(TicketRequest.objects.get())
    assert outcomes[0] == "ambiguous" and "not-found" in outcomes and outcomes[-1] == "created", outcomes
    assert [s.state for s in steps][-1] == "created"
    assert len(fake_jira.issues) == 1 and len(fake_jira.creates()) == 2


@pytest.mark.parametrize("fault", ["slow", "cut"])
def test_a_create_whose_answer_is_lost_is_found_by_its_marker_not_made_twice(
    fake_jira, jira_client, make_bridge, make_request, settings, fault
):
    # Given Jira creating the issue but answering after the client's timeout (or never), and
    # hiding new issues from search for a while
    settings.JIRA_RECONCILE_WINDOW = 10
    fake_jira.search_lag = 0.5
    fake_jira.slow_next(1, 2.0) if fault == "slow" else fake_jira.cut_next(1)
    bridge, request_id = make_bridge(jira_client), make_request()

    # When the request is driven to the end
    run_until_settled(bridge.create, request_id)

    # Then the one issue Jira made is recorded, found by its marker, and nothing was made twice
    request = TicketRequest.objects.get()
    assert (request.state, request.jira_key) == ("created", "OPS-1")
    assert outcomes_of(request)[0] == "ambiguous"
    assert outcomes_of(request)[-1] == "found"
    assert len(fake_jira.creates()) == 1, "a second create was sent"


def test_a_429_pauses_the_whole_budget_and_costs_no_attempt(
    fake_jira, jira_client, make_bridge, make_request
):
    fake_jira.fail_next(1, 429, Retry_After="1")
    bridge = make_bridge(jira_client)
    first, second = make_request(), make_request()

    step = bridge.create(first)
    paused_at = time.monotonic()
    waiting = bridge.create(second)

    assert step.state == "reserved" and step.retry_in >= 1
    assert waiting.retry_in > 0.5, "another request must wait out the pause, not be sent"
    assert TicketRequest.objects.get(pk=first).attempts == 0
    assert 0.5 < bridge.budget.state().paused_for <= 1.0
    time.sleep(max(0.0, paused_at + 1.05 - time.monotonic()))
    assert bridge.create(first).state == bridge.create(second).state == "created"
    calls = fake_jira.creates()
    assert [c.status for c in calls] == [429, 201, 201]
    assert calls[1].at - calls[0].at >= 1.0, "a create was sent inside the pause"


def test_a_permanent_error_fails_at_once_into_the_dead_letter(
    fake_jira, jira_client, make_bridge, make_request
):
    request_id = make_request(replace(TICKET, extras={"jira": {"project": "NOPE", "issue_type": "Task"}}))

    step = make_bridge(jira_client).create(request_id)

    assert step.state == "failed" and step.retry_in is None
    failure = JobFailure.objects.get()
    assert step.dead_letter == failure.pk
    assert failure.ticket_request_id == request_id
    assert failure.last_error == "Jira answered 400: project: valid project is required"
    assert [a["status"] for a in failure.attempts] == [400]
    assert Notification.objects.get().level == "error"
    assert DailyStat.objects.get(rule="prod-refunds").failures == 1


def test_bad_credentials_fail_at_once(fake_jira, make_bridge, make_request):
    step = make_bridge(JiraReceiver(fake_jira.url, "hub-bot", "wrong", timeout=1)).create(make_request())
    assert step.state == "failed"
    assert "401" in TicketRequest.objects.get().last_error


def test_it_gives_up_after_the_last_attempt_with_every_attempt_recorded(make_bridge, make_request, settings):
    settings.JIRA_MAX_ATTEMPTS = 3
    bridge = make_bridge(JiraReceiver("http://127.0.0.1:9", "hub-bot", "t", timeout=1))

    steps = run_until_settled(bridge.create, make_request())

    assert [s.state for s in steps] == ["reserved", "reserved", "failed"]
    assert [a["outcome"] for a in JobFailure.objects.get().attempts] == ["transient"] * 3


def test_the_breaker_opens_holds_requests_back_then_probes_and_closes(
    fake_jira, jira_client, make_bridge, make_request, settings
):
    # Given a breaker that opens after 2 failures in a row, and Jira refusing connections
    down = JiraReceiver("http://127.0.0.1:9", "hub-bot", "t", timeout=1)
    broken = make_bridge(down, threshold=2, cooldown=0.5)
    for _ in range(2):
        broken.create(make_request())
    assert broken.breaker.state().state == "open"

    # When a request comes while it is open, then it waits and nothing is sent
    healthy = make_bridge(jira_client, threshold=2, cooldown=0.5)
    request_id = make_request()
    step = healthy.create(request_id)
    assert step.state == "reserved" and 0 < step.retry_in <= 0.5
    assert fake_jira.creates() == [] and TicketRequest.objects.get(pk=request_id).attempts == 0

    # and after the cooldown one probe goes, succeeds, and closes the breaker
    time.sleep(step.retry_in)
    assert healthy.create(request_id).state == "created"
    assert healthy.breaker.state().state == "closed"
    changes = list(AuditEntry.objects.filter(action=AuditEntry.BREAKER_CHANGED).order_by("id"))
    assert [(c.extra["from"], c.extra["to"]) for c in changes] == [
        ("closed", "open"),
        ("open", "half-open"),
        ("half-open", "closed"),
    ]


def test_a_request_left_creating_by_a_dead_worker_is_reconciled(
    fake_jira, jira_client, make_bridge, make_request
):
    # Given a request a worker claimed, created in Jira, then died before recording
    request_id = make_request()
    request = TicketRequest.objects.get()
    jira_client.deliver(request.fields)
    TicketRequest.objects.filter(pk=request_id).update(
        state="creating", attempts=1, claimed_at=timezone.now() - timedelta(hours=1)
    )

    # When the request is driven again, then the issue is found and not created twice
    run_until_settled(make_bridge(jira_client).create, request_id)
    assert TicketRequest.objects.get().jira_key == "OPS-1"
    assert len(fake_jira.creates()) == 1


def test_more_events_on_a_ticket_become_one_comment_per_interval(
    fake_jira, jira_client, make_bridge, make_request, settings
):
    from notifications.models import Event

    settings.JIRA_COMMENT_INTERVAL = 60
    bridge, request_id = make_bridge(jira_client), make_request()
    bridge.create(request_id)
    bridge.update(request_id)
    request = TicketRequest.objects.get()

    keys = iter(range(100, 200))

    def join(n: int) -> None:
        for _ in range(n):
            key = next(keys)
            event = Event.objects.create(
                environment="prod",
                event_id=f"e{key}",
                type="update",
                database="shop",
                table="orders",
                occurred_at=timezone.make_aware(timezone.datetime(2026, 11, 21, 10, key - 100)),
                payload={"primary_key": [key]},
                outcome="matched",
            )
            request.events.add(event)

    join(3)
    assert bridge.update(request_id).retry_in is None
    join(2)
    held = bridge.update(request_id)

    assert len(fake_jira.comments["OPS-1"]) == 1, "at most one comment per interval"
    digest = fake_jira.comments["OPS-1"][0]
    assert digest.startswith(
        "3 more events joined this ticket (rule prod-refunds): 3 in all, "
        "first 2026-11-21 10:00:00, last 2026-11-21 10:02:00 UTC."
    ), digest
    assert "Latest primary keys: 102, 101, 100" in digest
    assert f"/admin/notifications/event/?ticket_requests__id__exact={request_id}" in digest
    assert 0 < held.retry_in <= 60, "the next comment waits for the interval"
    assert not claim_update_slot(bridge.redis, request_id), "one waiting update per ticket, not one per batch"


def test_outbox_mode_keeps_exactly_the_fields_that_would_be_sent(outbox, make_bridge, make_request):
    bridge, request_id = make_bridge(outbox), make_request()

    bridge.create(request_id)
    bridge.update(request_id)

    ticket = OutboxTicket.objects.get()
    request = TicketRequest.objects.get()
    assert ticket.fields == request.fields
    assert request.jira_key == ticket.key == f"OUTBOX-{ticket.pk}"
    assert ticket.properties["hub.request"]["key"] == request.key
    assert outbox.find(request.key) == ticket.key


def test_bridge_status_shows_breaker_budget_and_requests(make_request, broker, capsys):
    from django.core.management import call_command

    make_request()
    call_command("bridge_status")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "breaker: closed (0 failures in a row)"
    assert out[1].startswith("budget: ") and out[2] == "requests: 1 reserved"
    assert out[3] == "dead letters waiting for replay: 0"


def test_a_wait_longer_than_the_visibility_timeout_is_refused_at_start(settings):
    from jira_bridge.checks import waits_fit_the_visibility_timeout

    # Given Redis as the broker and the defaults: every hold fits
    settings.HUB_BROKER = "redis"
    settings.CELERY_VISIBILITY_TIMEOUT = 300
    settings.JIRA_BACKOFF_MAX, settings.JIRA_TIMEOUT, settings.HUB_BATCH_SECONDS = 120, 10, 120
    assert waits_fit_the_visibility_timeout(None) == []
    # (a long comment interval is waited in capped countdowns: it needs no longer timeout)
    settings.JIRA_COMMENT_INTERVAL = 3600
    assert waits_fit_the_visibility_timeout(None) == []

    # When the visibility timeout is below a countdown and its call, or below a batch's bound
    settings.CELERY_VISIBILITY_TIMEOUT = 130
    (error,) = waits_fit_the_visibility_timeout(None)
    assert error.id == "jira_bridge.E001" and "JIRA_BACKOFF_MAX + 2 x JIRA_TIMEOUT (140 s)" in error.msg
    settings.JIRA_BACKOFF_MAX, settings.HUB_BATCH_SECONDS = 60, 200
    (error,) = waits_fit_the_visibility_timeout(None)
    assert "HUB_BATCH_SECONDS (200 s)" in error.msg


def test_rabbitmq_has_no_visibility_timeout_for_a_wait_to_outlast(settings):
    from jira_bridge.checks import waits_fit_the_visibility_timeout

    # Given RabbitMQ as the broker, and a wait longer than the (Redis-only) visibility timeout
    settings.HUB_BROKER = "rabbitmq"
    settings.CELERY_VISIBILITY_TIMEOUT = 60
    settings.JIRA_BACKOFF_MAX = 300

    # Then nothing is refused: RabbitMQ never redelivers a message a live worker holds
    assert waits_fit_the_visibility_timeout(None) == []


def test_a_worker_with_a_stale_view_cannot_fail_a_request_another_one_settled(make_request):
    from jira_bridge.ledger import mark_failed

    # Given a worker holding a request it saw as ambiguous, which another worker then found created
    request_id = make_request()
    TicketRequest.objects.filter(pk=request_id).update(state="ambiguous")
    stale = TicketRequest.objects.get(pk=request_id)
    TicketRequest.objects.filter(pk=request_id).update(state="created", jira_key="OPS-9")

    # When the stale worker gives up, then nothing changes and no dead letter is written
    assert mark_failed(stale) is None
    assert TicketRequest.objects.get(pk=request_id).state == "created"
    assert not JobFailure.objects.exists()


def test_a_digest_comment_stays_within_jiras_limit_however_long_its_primary_keys(
    fake_jira, jira_client, make_bridge, make_request
):
    from notifications.models import Event

    # Given a created ticket, and ten events joining it whose primary keys are 5,000 characters each
    bridge, request_id = make_bridge(jira_client), make_request()
    bridge.create(request_id)
    bridge.update(request_id)
    request = TicketRequest.objects.get()
    for i in range(10):
        request.events.add(
            Event.objects.create(
                environment="prod",
                event_id=f"long{i}",
                type="update",
                database="shop",
                table="notes",
                payload={"primary_key": [f"{i}" * 5000]},
                outcome="matched",
            )  # fmt: skip
        )

    # When the bridge comments on them
    step = bridge.update(request_id)

    # Then Jira takes the comment: within 32,767 characters, the sample cut, the link kept whole
    assert step.retry_in is None, step
    (comment,) = fake_jira.comments["OPS-1"]
    assert len(comment) <= 32_767 and "…" in comment, len(comment)
    assert comment.endswith(f"/admin/notifications/event/?ticket_requests__id__exact={request_id}"), comment[
        -120:
    ]
