"""A mailbox: aiosmtpd's SMTP server on 127.0.0.1, keeping every message it takes, and answering
DATA with ``answers`` (SMTP replies, one per message, e.g. "451 try later"), then "250 OK"."""

import email
import email.policy
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller

from tests.conftest import free_port


@dataclass
class Mailbox:
    answers: list[str] = field(default_factory=list)
    messages: list[email.message.EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.answers:
            return self.answers.pop(0)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def __enter__(self) -> "Mailbox":
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
