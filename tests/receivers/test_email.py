"""The email receiver through Django's SMTP backend, to a real SMTP server on 127.0.0.1."""

import pytest
from django.core.mail import get_connection

from receivers.base import Origin, PermanentError, Ticket, TransientError
from receivers.email import BODY_MAX, EmailReceiver, message_id
from tests.fakes.smtp import Mailbox

TICKET = Ticket(title="Order 7\nrefunded", body="{'id': 7}")
ORIGIN = Origin("k" * 40, "http://hub.example/tickets/by-key/kkk", "prod-refunds", "prod", "cdc", 3)


@pytest.fixture
def mailbox():
    with Mailbox() as mailbox:
        yield mailbox


def receiver(port: int) -> EmailReceiver:
    smtp = get_connection(
        "django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=port, timeout=2
    )
    return EmailReceiver("ops-mail", ["ops@example.com"], from_email="hub@example.com", connection=smtp)


def test_a_ticket_is_one_message_whose_id_comes_from_its_key(mailbox):
    # Given a ticket, When it is delivered, and again (a retry), Then both messages carry the
    # same Message-ID (the external key), the ticket's title as subject, and the hub's link
    mail = receiver(mailbox.port)
    payload = mail.prepare(TICKET, ORIGIN).payload
    assert mail.deliver(payload) == mail.deliver(payload) == message_id(ORIGIN.key)
    first, second = mailbox.messages
    assert first["Message-ID"] == second["Message-ID"] == f"<{ORIGIN.key}@event-hub>"
    assert first["Subject"] == "Order 7 refunded" and first["To"] == "ops@example.com"
    text = first.get_content()
    assert text.startswith("{'id': 7}") and ORIGIN.link in text and "Rule prod-refunds, prod" in text


def test_a_digest_update_is_a_reply_in_the_tickets_thread(mailbox):
    mail = receiver(mailbox.port)
    mail.add_note(message_id(ORIGIN.key), "Order 7 refunded", "3 more events joined this ticket")
    (reply,) = mailbox.messages
    assert reply["In-Reply-To"] == reply["References"] == message_id(ORIGIN.key)
    assert reply["Subject"] == "Re: Order 7 refunded" and "3 more events" in reply.get_content()


@pytest.mark.parametrize(
    ("answer", "kind"), [("451 try later", TransientError), ("554 no thanks", PermanentError)]
)
def test_the_servers_answer_says_whether_to_try_again(mailbox, answer, kind):
    mailbox.answers.append(answer)
    mail = receiver(mailbox.port)
    with pytest.raises(kind, match=answer.split()[0]) as raised:
        mail.deliver(mail.prepare(TICKET, ORIGIN).payload)
    assert raised.value.status == int(answer.split()[0]) and mailbox.messages == []


def test_no_mail_server_is_tried_again():
    mail = receiver(9)
    with pytest.raises(TransientError, match="ConnectionRefused"):
        mail.deliver(mail.prepare(TICKET, ORIGIN).payload)


def test_a_receiver_without_addresses_is_refused():
    with pytest.raises(ValueError, match="to:"):
        EmailReceiver("nobody", [])


def test_a_long_body_is_cut_with_a_link_to_the_full_text():
    long = Ticket("t", body="b" * (BODY_MAX + 10))
    prepared = EmailReceiver("ops-mail", ["ops@example.com"]).prepare(long, ORIGIN)
    body = prepared.payload["body"]
    assert body.startswith("b" * 1000) and f"full text is in the hub: {ORIGIN.link}]" in body
    assert len(body.split("\n\n--\n")[0]) == BODY_MAX and prepared.full_body == long.body
