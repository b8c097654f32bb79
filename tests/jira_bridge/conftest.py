import time

import pytest

from jira_bridge.breaker import CircuitBreaker
from jira_bridge.bridge import Bridge
from jira_bridge.ledger import TicketDraft, request_tickets
from jira_bridge.ratelimit import RateBudget
from receivers.base import Ticket
from receivers.jira import JiraReceiver
from receivers.outbox.receiver import OutboxReceiver

TICKET = Ticket(
    title="Order 7 refunded in prod",
    body="{'id': 7}",
    labels=("cdc",),
    priority="High",
    extras={"jira": {"project": "OPS", "issue_type": "Task"}},
)


@pytest.fixture
def make_request(db):
    """Record a ticket request through the ledger, as the transform does; returns its id."""
    numbers = iter(range(1, 10_000))

    def make(ticket=TICKET, key=None) -> int:
        draft = TicketDraft(key or f"key-{next(numbers):04d}", None, "prod-refunds", "prod", "cdc", ticket)
        (request_id,) = request_tickets([draft]).created
        return request_id

    return make


@pytest.fixture
def make_bridge(broker, settings):
    """A bridge on the test Redis; a generous budget and a lenient breaker unless a test says."""
    settings.JIRA_RECONCILE_FIRST_LOOK = 0.05

    def make(receiver, *, rate=1000.0, burst=100, reserve=0, threshold=100, cooldown=0.5) -> Bridge:
        return Bridge(
            receiver,
            RateBudget(broker, rate=rate, burst=burst, reserve=reserve),
            CircuitBreaker(broker, threshold=threshold, cooldown=cooldown, probe_lease=1.0),
        )

    return make


@pytest.fixture
def jira_client(fake_jira) -> JiraReceiver:
    return JiraReceiver(fake_jira.url, "hub-bot", "test-token", timeout=1)


@pytest.fixture
def outbox() -> OutboxReceiver:
    return OutboxReceiver()


def run_until_settled(step_fn, request_id: int, limit: int = 50):
    """Drive a request as the task would, sleeping the waits it asks for; returns the steps."""
    steps = []
    for _ in range(limit):
        step = step_fn(request_id)
        steps.append(step)
        if step.retry_in is None:
            return steps
        time.sleep(step.retry_in)
    pytest.fail(f"request {request_id} did not settle: {steps}")
