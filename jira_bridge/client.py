"""The seam between the hub and Jira: a TicketClient creates one issue from its fields and returns
its key. JiraClient talks to a real Jira through the ``jira`` package; OutboxClient keeps the ticket
in the hub's database. Settings choose (no JIRA_URL: outbox)."""

from typing import Any, Protocol

import requests
from django.conf import settings
from jira import JIRA, JIRAError

from jira_bridge.models import OutboxTicket


class TicketError(Exception):
    """Creating a ticket failed. ``status`` is Jira's HTTP status, if it answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientTicketError(TicketError):
    """Worth trying again later: timeouts, connection errors, 429 and 5xx."""


class PermanentTicketError(TicketError):
    """Trying again will not help: bad fields, no permission, unknown project or issue type."""


class TicketClient(Protocol):
    def create_issue(self, fields: dict[str, Any]) -> str: ...


class OutboxClient:
    """Outbox mode: the ticket becomes a row in the hub's own database; nothing leaves the machine."""

    def create_issue(self, fields: dict[str, Any]) -> str:
        return OutboxTicket.objects.create(fields=fields).key


class JiraClient:
    """A real Jira, through the ``jira`` client with its own retries off and a timeout set: the
    hub decides what to retry (the client's session would retry POSTs, creating duplicates)."""

    def __init__(self, url: str, user: str, token: str, timeout: float) -> None:
        self.jira = JIRA(
            server=url,
            basic_auth=(user, token),
            max_retries=0,
            timeout=timeout,
            get_server_info=False,
        )

    def create_issue(self, fields: dict[str, Any]) -> str:
        try:
            return self.jira.create_issue(fields=fields, prefetch=False).key
        except JIRAError as exc:
            raise classify_jira_error(exc) from exc
        except requests.RequestException as exc:
            raise TransientTicketError(f"{type(exc).__name__}: {exc}") from exc


def classify_jira_error(exc: JIRAError) -> TicketError:
    """Jira's answer as a transient or permanent error, keeping Jira's own message."""
    status = exc.status_code
    message = f"Jira answered {status}: {jira_message(exc)}"
    if status is None or status == 429 or status >= 500:
        return TransientTicketError(message, status)
    return PermanentTicketError(message, status)


def jira_message(exc: JIRAError) -> str:
    """Jira's errorMessages and field errors, or the response text."""
    response = exc.response
    try:
        body = response.json() if response is not None else {}
    except ValueError:
        body = {}
    parts = list(body.get("errorMessages") or [])
    parts += [f"{name}: {text}" for name, text in (body.get("errors") or {}).items()]
    return "; ".join(parts) or (exc.text or "")[:500]


_client: TicketClient | None = None
_client_config: tuple | None = None


def get_ticket_client() -> TicketClient:
    """The client the settings ask for, built once per process (and again if settings change)."""
    global _client, _client_config
    config = (settings.JIRA_URL, settings.JIRA_USER, settings.JIRA_API_TOKEN, settings.JIRA_TIMEOUT)
    if _client is None or config != _client_config:
        _client = JiraClient(*config) if settings.JIRA_URL else OutboxClient()
        _client_config = config
    return _client
