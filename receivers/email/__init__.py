"""The email receiver: one message per ticket through Django's email framework (SMTP as Django's
``EMAIL_*`` settings say, or a connection given), its Message-ID made from the ticket's key, so
that a message sent again after a lost answer is the same message to every mail client, and
digest updates sent as replies in its thread (In-Reply-To and References).

The guarantee is at least once: SMTP cannot be asked whether a message it was given before the
connection dropped was queued, so it is sent again, under the same Message-ID."""

import smtplib
from typing import Any

from django.core.mail import EmailMessage, get_connection

from receivers.base import (
    Limits,
    MessageKind,
    Origin,
    PermanentError,
    Prepared,
    Ticket,
    TransientError,
    cut_body,
    one_line,
)

BODY_MAX = 1_000_000  # characters of a ticket's body sent
DOMAIN = "event-hub"  # the right-hand side of the Message-IDs the hub makes


class EmailReceiver(MessageKind):
    kind = "email"
    title_needed = "a message needs a subject"
    limits = Limits(title_max=250, text_max=BODY_MAX)

    def __init__(self, name: str, to: list[str], *, from_email: str | None = None, connection=None) -> None:
        if not to:
            raise ValueError("to: at least one address")
        self.name, self.to, self.from_email, self._connection = name, list(to), from_email, connection

    def connection(self):
        return self._connection or get_connection(fail_silently=False)

    def prepare(self, ticket: Ticket, origin: Origin) -> Prepared:
        subject = self.limits.shorten(one_line(ticket.title), self.limits.title_max)
        body, full = cut_body(ticket.body, BODY_MAX, origin.link)
        footer = f"\n\n--\nIn the hub: {origin.link}" + (
            f"\nRule {origin.rule}, {origin.environment}" if origin.rule else ""
        )
        return Prepared(
            {"subject": subject, "body": body + footer, "to": self.to, "message_id": message_id(origin.key)},
            full,
        )

    def deliver(self, payload: dict[str, Any]) -> str:
        headers = {"Message-ID": payload["message_id"]}
        self.send(payload["subject"], payload["body"], payload["to"], headers)
        return payload["message_id"]

    def add_note(self, external_key: str, title: str, body: str) -> None:
        reply = {"In-Reply-To": external_key, "References": external_key}
        self.send(f"Re: {one_line(title)}"[: self.limits.title_max], body, self.to, reply)

    def send(self, subject: str, body: str, to: list[str], headers: dict[str, str]) -> None:
        message = EmailMessage(
            subject, body, self.from_email, to, headers=headers, connection=self.connection()
        )
        try:
            message.send()
        except smtplib.SMTPResponseException as exc:  # the server answered: 4xx later, 5xx never
            said = f"the mail server answered {exc.smtp_code}: {exc.smtp_error!r}"
            raise (TransientError if exc.smtp_code < 500 else PermanentError)(said, exc.smtp_code) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {code for code, _ in exc.recipients.values()}
            kind = TransientError if all(code < 500 for code in codes) else PermanentError
            raise kind(f"the mail server refused the recipients: {exc.recipients!r}") from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc


def message_id(key: str) -> str:
    return f"<{key}@{DOMAIN}>"
