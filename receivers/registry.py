"""The receiver kinds, in one table, and the default receiver, which takes every ticket today:
Jira when JIRA_URL is set, else the outbox."""

from collections.abc import Sequence

from django.conf import settings

from receivers.base import Receiver, Ticket
from receivers.email import EmailReceiver
from receivers.jira import JiraReceiver
from receivers.outbox.receiver import OutboxReceiver
from receivers.webhook import WebhookReceiver

KINDS: dict[str, type] = {
    "email": EmailReceiver,
    "jira": JiraReceiver,
    "outbox": OutboxReceiver,
    "webhook": WebhookReceiver,
}

_default: tuple[tuple, Receiver] | None = None


def default_receiver() -> Receiver:
    """The receiver the settings ask for, built once per process (and again if they change)."""
    global _default
    config = (settings.JIRA_URL, settings.JIRA_USER, settings.JIRA_API_TOKEN, settings.JIRA_TIMEOUT)
    if _default is None or _default[0] != config:
        _default = (config, KINDS["jira" if settings.JIRA_URL else "outbox"].from_settings())
    return _default[1]


def ticket_problems(ticket: Ticket) -> list[str]:
    """What the default receiver would refuse of ``ticket`` and cannot mend."""
    return default_receiver().problems(ticket)


def label_problems(labels: Sequence[str]) -> list[str]:
    """What the default receiver would refuse of a rule's labels."""
    return default_receiver().label_problems(labels)
