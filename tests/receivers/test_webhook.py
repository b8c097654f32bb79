"""The webhook receiver over real HTTP, against a sink on 127.0.0.1 that can fail, hang and
answer 429."""

import hashlib
import hmac
import json

import pytest

from receivers.base import Origin, PermanentError, Ticket, TransientError
from receivers.registry import KINDS
from receivers.webhook import BODY_MAX, WebhookReceiver
from tests.fakes.sink import Sink

TICKET = Ticket(title="Order 7\nrefunded", body="{'id': 7}", labels=("cdc",), priority="High")
ORIGIN = Origin("k" * 40, "http://hub.example/tickets/by-key/kkk", "prod-refunds", "prod", "cdc", 3)


@pytest.fixture
def sink():
    with Sink() as sink:
        yield sink


def test_a_ticket_is_posted_as_json_with_its_idempotency_key_and_signed_body(sink):
    # Given a webhook with a secret named by its environment variable,
    # When a ticket is delivered twice (a retry), Then each POST carries the same idempotency key
    # and a signature of exactly the bytes sent, and the answer's id is the external key
    webhook = WebhookReceiver(
        "ops", sink.url + "/hook", secret_env="OPS_SECRET", environ={"OPS_SECRET": "s3"}
    )
    payload = webhook.prepare(TICKET, ORIGIN).payload
    assert webhook.deliver(payload) == "1" and webhook.deliver(payload) == "2"
    first, second = sink.received
    assert first.path == "/hook" and first.json() == {
        "title": "Order 7 refunded",
        "body": "{'id': 7}",
        "labels": ["cdc"],
        "priority": "High",
        "rule": "prod-refunds",
        "environment": "prod",
        "source": "cdc",
        "events": 3,
        "link": ORIGIN.link,
        "idempotency_key": ORIGIN.key,
    }
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == ORIGIN.key
    expected = "sha256=" + hmac.new(b"s3", first.body, hashlib.sha256).hexdigest()
    assert first.headers["X-Hub-Signature-256"] == expected
    assert "s3" not in json.dumps(payload), "the secret is read when sending, never stored"


def test_without_a_secret_nothing_is_signed(sink):
    webhook = WebhookReceiver("ops", sink.url)
    webhook.deliver(webhook.prepare(TICKET, ORIGIN).payload)
    assert "X-Hub-Signature-256" not in sink.received[0].headers


def test_a_secret_asked_for_and_not_set_fails_rather_than_send_unsigned(sink):
    webhook = WebhookReceiver("ops", sink.url, secret_env="OPS_SECRET", environ={})
    with pytest.raises(PermanentError, match="OPS_SECRET is not set"):
        webhook.deliver(webhook.prepare(TICKET, ORIGIN).payload)
    assert sink.received == [], "nothing went out unsigned"


def test_slack_gets_its_incoming_webhook_shape(sink):
    webhook = WebhookReceiver("chat", sink.url, format="slack")
    webhook.deliver(webhook.prepare(TICKET, ORIGIN).payload)
    assert sink.received[0].json() == {
        "text": f"*Order 7 refunded*\n{{'id': 7}}\n<{ORIGIN.link}|Open in the hub>"
    }
    assert sink.received[0].headers["Idempotency-Key"] == ORIGIN.key


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [
        (500, {}, TransientError, None),
        (503, {"Retry-After": "4"}, TransientError, 4.0),
        (429, {"Retry-After": "7"}, TransientError, 7.0),
        (408, {}, TransientError, None),
        (404, {}, PermanentError, None),
        (401, {}, PermanentError, None),
    ],
)
def test_answers_are_retried_or_final_by_their_status(sink, status, headers, kind, retry_after):
    sink.answers.append((status, headers, b'{"error": "not today"}', 0))
    webhook = WebhookReceiver("ops", sink.url)
    with pytest.raises(kind) as raised:
        webhook.deliver(webhook.prepare(TICKET, ORIGIN).payload)
    assert raised.value.status == status and raised.value.retry_after == retry_after
    assert f"answered {status}" in str(raised.value) and "not today" in str(raised.value), (
        "the answer is kept"
    )


def test_a_peer_that_does_not_answer_in_time_is_tried_again(sink):
    sink.answers.append((200, {}, b"{}", 2.0))
    webhook = WebhookReceiver("ops", sink.url, timeout=0.3)
    with pytest.raises(TransientError, match="Timeout"):
        webhook.deliver(webhook.prepare(TICKET, ORIGIN).payload)


def test_nobody_listening_is_tried_again():
    webhook = WebhookReceiver("ops", "http://127.0.0.1:9/hook", timeout=1)
    with pytest.raises(TransientError, match="ConnectionError"):
        webhook.deliver(webhook.prepare(TICKET, ORIGIN).payload)


def test_a_2xx_without_an_id_is_delivered_under_the_idempotency_key(sink):
    sink.answers.append((204, {}, b"", 0))
    webhook = WebhookReceiver("ops", sink.url)
    assert webhook.deliver(webhook.prepare(TICKET, ORIGIN).payload) == ORIGIN.key


def test_a_long_body_is_cut_with_a_link_to_the_full_text():
    prepared = WebhookReceiver("ops", "http://x").prepare(Ticket("t", body="b" * (BODY_MAX + 10)), ORIGIN)
    body = prepared.payload["content"]["body"]
    assert (
        len(body) == BODY_MAX
        and body.endswith(f"{ORIGIN.link}]")
        and prepared.full_body == "b" * (BODY_MAX + 10)
    )


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="format"):
        WebhookReceiver("ops", "http://x", format="teams")


def test_the_kind_is_registered():
    assert KINDS["webhook"] is WebhookReceiver


def test_labels_jira_would_refuse_go_to_a_webhook_as_they_are():
    # Given labels Jira cannot hold (white space) or keeps for the hub's markers (hub-),
    labels = ("needs review", "hub-7")
    # Then Jira names both, and a webhook takes them and sends them unchanged
    jira = KINDS["jira"]("http://127.0.0.1:9", "hub-bot", "token", 1.0)
    assert [problem.split(":")[0] for problem in jira.label_problems(labels)] == ["labels", "labels"]
    webhook = WebhookReceiver("ops", "http://127.0.0.1:9/hook")
    assert webhook.label_problems(labels) == []
    assert webhook.prepare(Ticket(title="t", labels=labels), ORIGIN).payload["content"]["labels"] == list(
        labels
    )
