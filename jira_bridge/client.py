"""The seam between the hub and Jira. A TicketClient creates an issue, finds one by its marker
label, comments on one and sets an issue property. JiraClient talks to a real Jira through the
``jira`` package; OutboxClient keeps tickets in the hub's database. Settings choose (no JIRA_URL:
outbox).

Every failure is one of three kinds, because what happens next depends on it:
TransientTicketError (nothing was done: try later), AmbiguousTicketError (a create may have
happened: look for it before creating again) and PermanentTicketError (trying again won't help).
"""

from typing import Any, Protocol

import requests
import urllib3
from django.conf import settings
from django.db import transaction
from jira import JIRA, JIRAError

from jira_bridge.models import OutboxTicket

PROPERTY_KEY = "hub.request"


class TicketError(Exception):
    """A call to Jira failed. ``status`` is Jira's HTTP status, if it answered."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TransientTicketError(TicketError):
    """Not done, worth trying later: 429, connection refused, or a failed read-only call."""


class AmbiguousTicketError(TicketError):
    """A create whose outcome is unknown: timeout, connection cut, or 5xx after it was sent."""


class PermanentTicketError(TicketError):
    """Trying again will not help: bad fields, no permission, unknown project or issue type."""


class TicketClient(Protocol):
    def create_issue(self, fields: dict[str, Any]) -> str: ...

    def find_by_marker(self, label: str) -> str | None:
        """The key of the issue carrying ``label``, or None if none is visible (yet)."""

    def add_comment(self, key: str, body: str) -> None: ...

    def set_property(self, key: str, name: str, value: dict[str, Any]) -> None: ...


class OutboxClient:
    """Outbox mode: tickets become rows in the hub's own database; nothing leaves the machine."""

    def create_issue(self, fields: dict[str, Any]) -> str:
        return OutboxTicket.objects.create(fields=fields).key

    def find_by_marker(self, label: str) -> str | None:
        ticket = OutboxTicket.objects.filter(fields__labels__contains=[label]).first()
        return ticket.key if ticket else None

    @transaction.atomic
    def add_comment(self, key: str, body: str) -> None:
        ticket = OutboxTicket.objects.select_for_update().get(pk=OutboxTicket.pk_of(key))
        ticket.comments.append(body)
        ticket.save(update_fields=["comments"])

    @transaction.atomic
    def set_property(self, key: str, name: str, value: dict[str, Any]) -> None:
        ticket = OutboxTicket.objects.select_for_update().get(pk=OutboxTicket.pk_of(key))
        ticket.properties[name] = value
        ticket.save(update_fields=["properties"])


class JiraClient:
    """A real Jira, through the ``jira`` client with its own retries off and a timeout set: the
    hub decides what to retry (the client's session would retry POSTs, creating duplicates)."""

    def __init__(self, url: str, user: str, token: str, timeout: float) -> None:
        self.options = {"server": url, "basic_auth": (user, token), "max_retries": 0, "timeout": timeout}
        self._jira: JIRA | None = None

    @property
    def jira(self) -> JIRA:
        """Built on first use: it asks Jira for serverInfo (Cloud searches elsewhere than Server)."""
        if self._jira is None:
            try:
                self._jira = JIRA(**self.options, get_server_info=True)
            except JIRAError as exc:
                raise classify_jira_error(exc, create=False) from exc
            except requests.RequestException as exc:
                raise TransientTicketError(f"{type(exc).__name__}: {exc}") from exc
        return self._jira

    def create_issue(self, fields: dict[str, Any]) -> str:
        jira = self.jira
        try:
            return jira.create_issue(fields=fields, prefetch=False).key
        except JIRAError as exc:
            raise classify_jira_error(exc, create=True) from exc
        except requests.RequestException as exc:
            kind = TransientTicketError if never_sent(exc) else AmbiguousTicketError
            raise kind(f"{type(exc).__name__}: {exc}") from exc

    def find_by_marker(self, label: str) -> str | None:
        found = self._call(
            lambda jira: jira.search_issues(
                f'labels = "{label}"', maxResults=2, fields=["labels"], json_result=True
            )
        )
        issues = found.get("issues") or []
        return issues[0]["key"] if issues else None

    def add_comment(self, key: str, body: str) -> None:
        # Not a create: a comment sent twice is a nuisance, not a second ticket.
        self._call(lambda jira: jira.add_comment(key, body))

    def set_property(self, key: str, name: str, value: dict[str, Any]) -> None:
        self._call(lambda jira: jira.add_issue_property(key, name, value))

    def _call(self, call):
        jira = self.jira
        try:
            return call(jira)
        except JIRAError as exc:
            raise classify_jira_error(exc, create=False) from exc
        except requests.RequestException as exc:
            raise TransientTicketError(f"{type(exc).__name__}: {exc}") from exc


def never_sent(exc: requests.RequestException) -> bool:
    """Whether a request failed before it reached Jira (no connection was made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", exc.args[0])
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def classify_jira_error(exc: JIRAError, *, create: bool) -> TicketError:
    """Jira's answer as a transient, ambiguous or permanent error, keeping Jira's own message."""
    status = exc.status_code
    message = f"Jira answered {status}: {jira_message(exc)}"
    if status == 429:
        return TransientTicketError(message, status, retry_after=retry_after(exc))
    if status is None or status >= 500:
        return (AmbiguousTicketError if create else TransientTicketError)(message, status)
    return PermanentTicketError(message, status)


def retry_after(exc: JIRAError) -> float | None:
    headers = getattr(exc.response, "headers", None) or exc.headers or {}
    try:
        return float(headers.get("Retry-After"))
    except (TypeError, ValueError):
        return None


def jira_message(exc: JIRAError) -> str:
    """Jira's errorMessages and field errors, or the response text."""
    response = exc.response
    try:
        body = response.json() if response is not None else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
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
