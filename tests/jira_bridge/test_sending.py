import pytest

from jira_bridge.client import JiraClient, OutboxClient
from jira_bridge.models import OutboxTicket, TicketRequest
from jira_bridge.tickets import TicketDraft, request_tickets, send_ticket_request
from notifications.models import AuditEntry, DailyStat, JobFailure, Notification

pytestmark = pytest.mark.django_db

FIELDS = {
    "project": {"key": "OPS"},
    "issuetype": {"name": "Task"},
    "summary": "Order 7 refunded in prod",
    "description": "{'id': 7}",
    "labels": ["cdc"],
    "priority": {"name": "High"},
}


def pending_request(fields=FIELDS) -> int:
    (request_id,) = request_tickets([TicketDraft("k-1", None, "prod-refunds", "prod", "cdc", fields)])
    return request_id


def jira(fake, token="test-token") -> JiraClient:
    return JiraClient(fake.url, "hub-bot", token, timeout=5)


def posts(fake) -> int:
    return sum(1 for method, path in fake.requests if method == "POST")


def test_it_creates_the_issue_in_jira_and_records_the_key(fake_jira):
    request_id = pending_request()

    outcome = send_ticket_request(request_id, jira(fake_jira))

    request = TicketRequest.objects.get()
    assert outcome.state == "created" and request.state == "created"
    assert request.jira_key == "OPS-1"
    assert fake_jira.issues["OPS-1"]["fields"] == FIELDS, "Jira gets exactly the rendered fields"
    assert AuditEntry.objects.filter(action=AuditEntry.TICKET_CREATED, object_id=str(request_id)).exists()
    assert Notification.objects.get().title == "OPS-1 created: Order 7 refunded in prod"
    assert DailyStat.objects.get(rule="prod-refunds").tickets == 1


def test_a_created_request_is_never_sent_again(fake_jira):
    request_id = pending_request()
    send_ticket_request(request_id, jira(fake_jira))

    assert send_ticket_request(request_id, jira(fake_jira)).state == "skipped"
    assert posts(fake_jira) == 1


@pytest.mark.parametrize(
    ("status", "headers"), [(503, {}), (502, {}), (500, {}), (429, {"Retry-After": "1"})]
)
def test_a_transient_error_puts_the_request_back_with_a_backoff(fake_jira, status, headers):
    fake_jira.fail_next(1, status, {"errorMessages": ["try later"]}, **headers)
    request_id = pending_request()

    outcome = send_ticket_request(request_id, jira(fake_jira))

    request = TicketRequest.objects.get()
    assert (outcome.state, request.state) == ("pending", "pending")
    assert 0 < outcome.retry_in <= 0.5, outcome.retry_in
    assert request.history[-1]["status"] == status
    assert posts(fake_jira) == 1, "the jira client must not retry on its own"

    assert send_ticket_request(request_id, jira(fake_jira)).state == "created"
    assert len(fake_jira.issues) == 1


def test_an_unreachable_jira_is_transient():
    request_id = pending_request()
    client = JiraClient("http://127.0.0.1:9", "hub-bot", "t", timeout=2)  # nothing listens on port 9

    outcome = send_ticket_request(request_id, client)

    assert outcome.state == "pending"
    assert "ConnectionError" in TicketRequest.objects.get().last_error


def test_a_permanent_error_fails_at_once_keeping_jiras_message(fake_jira):
    request_id = pending_request({**FIELDS, "project": {"key": "NOPE"}})

    outcome = send_ticket_request(request_id, jira(fake_jira))

    assert outcome.state == "failed" and outcome.retry_in is None
    failure = JobFailure.objects.get()
    assert failure.subject == f"ticket_request:{request_id}"
    assert failure.last_error == "Jira answered 400: project: valid project is required"
    assert failure.payload["fields"]["project"] == {"key": "NOPE"}
    assert [a["status"] for a in failure.attempts] == [400]
    assert Notification.objects.get().level == "error"
    assert DailyStat.objects.get(rule="prod-refunds").failures == 1


def test_bad_credentials_fail_at_once(fake_jira):
    request_id = pending_request()
    assert send_ticket_request(request_id, jira(fake_jira, token="wrong")).state == "failed"
    assert "401" in TicketRequest.objects.get().last_error


def test_it_gives_up_after_the_last_attempt_with_every_attempt_recorded(fake_jira, settings):
    settings.JIRA_MAX_ATTEMPTS = 3
    fake_jira.fail_next(5, 503)
    request_id = pending_request()

    states = [send_ticket_request(request_id, jira(fake_jira)).state for _ in range(3)]

    assert states == ["pending", "pending", "failed"]
    failure = JobFailure.objects.get()
    assert [a["status"] for a in failure.attempts] == [503, 503, 503]
    assert fake_jira.issues == {}


def test_outbox_mode_keeps_exactly_the_fields_that_would_be_sent():
    request_id = pending_request()

    send_ticket_request(request_id, OutboxClient())

    ticket = OutboxTicket.objects.get()
    assert ticket.fields == FIELDS
    assert TicketRequest.objects.get().jira_key == ticket.key == f"OUTBOX-{ticket.pk}"


def test_requests_left_pending_by_a_crash_are_sent_again(broker, settings):
    import json
    from datetime import timedelta

    from django.utils import timezone

    from jira_bridge.tasks import requeue_stalled_task

    # Given one request untouched for longer than any backoff, and one just made
    stalled, fresh = (
        pending_request(),
        request_tickets([TicketDraft("k-2", None, "r", "prod", "cdc", FIELDS)])[0],
    )
    TicketRequest.objects.filter(id=stalled).update(updated_at=timezone.now() - timedelta(hours=1))

    # When beat's requeue task runs
    requeue_stalled_task.apply()

    # Then only the stalled one is sent again, on jira:create
    messages = [json.loads(m) for m in broker.lrange("jira:create", 0, -1)]
    assert [m["headers"]["task"] for m in messages] == ["jira_bridge.create_ticket"]
    assert [json.loads(__import__("base64").b64decode(m["body"]))[0] for m in messages] == [[stalled]]
    assert fresh != stalled
