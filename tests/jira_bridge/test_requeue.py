"""Recovery in bounded time: the ledger knows when each request's message is due, so one that was
lost is sent again once overdue by JIRA_REQUEUE_GRACE (not after 2 x JIRA_BACKOFF_MAX of quiet), and
a task that finds another worker's lease comes back when the lease ends."""

import datetime as dt

import pytest
from django.utils import timezone

from jira_bridge.ledger import attempt_bound, creating_lease, schedule_attempt, stalled_requests
from jira_bridge.models import TicketRequest
from tests.conftest import outcomes_of

pytestmark = pytest.mark.django_db


def test_a_request_whose_message_was_lost_is_sent_again_once_overdue(make_request, settings):
    # Given a request recorded a while ago whose message never ran (lost with a killed worker)
    settings.JIRA_REQUEUE_GRACE = 30
    settings.JIRA_BACKOFF_MAX = 300
    lost, _fresh = make_request(), make_request()
    TicketRequest.objects.filter(pk=lost).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=31))

    # When jira-requeue-stalled looks, Then only the overdue one is sent again, and only once a run
    assert stalled_requests() == [lost], "the fresh one's message may still be on its way"
    assert stalled_requests() == [], "due again a backoff later, not at every run"
    assert TicketRequest.objects.get(pk=lost).next_attempt_at > timezone.now() + dt.timedelta(seconds=290)


def test_a_request_waiting_for_its_retry_is_not_sent_again_however_quiet(make_request, settings):
    # Given a request untouched for an hour but whose retry is due in a minute (a long backoff)
    settings.JIRA_REQUEUE_GRACE = 30
    waiting = make_request()
    TicketRequest.objects.filter(pk=waiting).update(updated_at=timezone.now() - dt.timedelta(hours=1))
    schedule_attempt(waiting, 60)

    # Then it is not taken for lost
    assert stalled_requests() == []


def test_a_create_that_finds_another_workers_lease_comes_back_when_it_ends(make_request, make_bridge, outbox):
    # Given a request another worker claimed a moment ago (alive, or killed with its message back)
    request_id = make_request()
    claimed = timezone.now() - dt.timedelta(seconds=1)
    TicketRequest.objects.filter(pk=request_id).update(state="creating", claimed_at=claimed)

    # When a message for it is run
    step = make_bridge(outbox).create(request_id)

    # Then it asks to run again once the lease has ended (then the request is presumed lost)
    remaining = (claimed + creating_lease() - timezone.now()).total_seconds()
    assert step.state == "creating" and step.retry_in is not None, step
    assert remaining < step.retry_in <= remaining + 1.5, (step.retry_in, remaining)


def test_a_request_presumed_lost_counts_its_reconcile_window_from_the_dead_workers_call(
    make_request, make_bridge, outbox, settings
):
    # Given a request whose worker was killed mid-call long enough ago that the window has passed
    # since that call would have ended (and Jira never got it: nothing carries its marker)
    settings.JIRA_RECONCILE_WINDOW = 60
    request_id = make_request()
    claimed = timezone.now() - attempt_bound() - dt.timedelta(seconds=61)
    TicketRequest.objects.filter(pk=request_id).update(state="creating", attempts=1, claimed_at=claimed)

    # When a message for it runs
    bridge = make_bridge(outbox)
    step = bridge.create(request_id)

    # Then it looks once and, not finding it, is made again at once: the wait already spent
    # under the lease counts towards the window
    assert (step.state, step.retry_in) == ("reserved", 0), step
    outcomes = outcomes_of(TicketRequest.objects.get(pk=request_id))
    assert outcomes == ["ambiguous", "not-found"], outcomes
    assert bridge.create(request_id).state == "created"


def test_a_request_just_presumed_lost_waits_only_what_is_left_of_its_window(
    make_request, make_bridge, outbox, settings
):
    # Given a request whose lease has just ended (its worker killed right after claiming it)
    settings.JIRA_RECONCILE_WINDOW = 60
    request_id = make_request()
    claimed = timezone.now() - creating_lease() - dt.timedelta(seconds=1)
    TicketRequest.objects.filter(pk=request_id).update(state="creating", attempts=1, claimed_at=claimed)

    # When a message for it runs
    step = make_bridge(outbox).create(request_id)

    # Then it looks, and looks again no later than the window's end counted from the call's end
    left = (claimed + attempt_bound() + dt.timedelta(seconds=60) - timezone.now()).total_seconds()
    assert step.state == "ambiguous" and 0 < step.retry_in <= left, (step, left)
    request = TicketRequest.objects.get(pk=request_id)
    assert request.ambiguous_since == claimed + attempt_bound()
