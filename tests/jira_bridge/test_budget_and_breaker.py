import time

import pytest

from jira_bridge.breaker import CircuitBreaker
from jira_bridge.bridge import get_bridge
from jira_bridge.ratelimit import CREATE, UPDATE, RateBudget
from receivers.jira import JiraReceiver
from receivers.outbox.receiver import OutboxReceiver


def test_the_budget_is_shared_by_every_worker(broker):
    first, second = (RateBudget(broker, rate=1, burst=4, reserve=0) for _ in range(2))
    granted = [b.take(CREATE) == 0 for b in (first, second, first, second, first)]
    assert granted == [True, True, True, True, False], "two workers share one bucket of 4"
    assert 0 < first.take(CREATE) <= 1.0


def test_creates_go_before_updates_when_the_budget_is_short(broker):
    budget = RateBudget(broker, rate=0.1, burst=4, reserve=2)
    assert budget.take(UPDATE) == 0  # 4 -> 3
    assert budget.take(UPDATE) == 0  # 3 -> 2: an update needs more than the reserve
    assert budget.take(UPDATE) > 0, "an update may not eat into the reserve"
    assert budget.take(CREATE) == 0 and budget.take(CREATE) == 0, "creates may use the reserve"
    assert budget.take(CREATE) > 0


def test_a_pause_stops_everyone_and_never_shortens(broker):
    budget = RateBudget(broker, rate=100, burst=10, reserve=0)
    budget.pause(2)
    budget.pause(0.5)
    assert budget.take(CREATE) > 1.5
    assert 1.5 < budget.state().paused_for <= 2


def test_the_budget_refuses_a_nonsense_configuration(broker):
    with pytest.raises(ValueError):
        RateBudget(broker, rate=1, burst=2, reserve=2)


def test_the_breaker_lets_one_probe_through_when_half_open(broker):
    breaker = CircuitBreaker(broker, threshold=2, cooldown=0.2, probe_lease=5)
    assert breaker.record(False) is None
    assert breaker.record(False) == "closed", "the second failure in a row opens it"
    assert not breaker.allow().allowed
    time.sleep(0.25)
    probe, other = breaker.allow(), breaker.allow()
    assert (probe.allowed, probe.state, probe.changed_from) == (True, "half-open", "open")
    assert not other.allowed, "only one probe at a time"
    assert breaker.record(False) == "half-open", "a failed probe opens it again"
    assert breaker.state().state == "open"


def test_a_success_resets_the_failure_count(broker):
    breaker = CircuitBreaker(broker, threshold=2, cooldown=1, probe_lease=1)
    breaker.record(False)
    breaker.record(True)
    breaker.record(False)
    assert breaker.state().state == "closed"


@pytest.mark.django_db  # a breaker's change is in the audit trail
def test_each_receiver_has_its_own_breaker_and_budget(broker, settings):
    # Given the Jira receiver's breaker opened and its budget paused by a 429,
    # When another receiver asks for its turn, Then it goes at once: a receiver that is down
    # pauses no other
    settings.JIRA_BREAKER_THRESHOLD = 2
    jira = get_bridge(JiraReceiver("http://127.0.0.1:9", "hub-bot", "t", timeout=1))
    outbox = get_bridge(OutboxReceiver())
    jira.record_outcome(success=False)
    jira.record_outcome(success=False)
    jira.budget.pause(30)
    assert jira.breaker.state().state == "open" and jira.wait_turn(CREATE) > 0
    assert outbox.wait_turn(CREATE) == 0, "the outbox's gate is its own"
    assert outbox.breaker.state().state == "closed" and outbox.budget.state().paused_for == 0
