"""The Jira receiver: a ticket becomes a Jira Cloud issue, through the ``jira`` client. The only
place that knows Jira's field names. An issue carries a marker label (``hub-`` and the start of
the ticket's key) that finds it again after a create whose outcome was unclear, and an issue
property naming the ticket."""

from collections.abc import Sequence
from typing import Any

import requests
import urllib3
from django.conf import settings
from jira import JIRA, JIRAError

from receivers.base import (
    AmbiguousError,
    DeliveryError,
    Origin,
    PermanentError,
    Prepared,
    Ticket,
    TransientError,
    one_line,
)
from receivers.jira.limits import JIRA_LIMITS, fit_fields, label_problems, marker_label, ticket_problems

PROPERTY_KEY = "hub.request"


def jira_fields(ticket: Ticket) -> dict[str, Any]:
    """A ticket as Jira's fields (before its limits and marker)."""
    fields: dict[str, Any] = {
        "project": {"key": ticket.extra("jira", "project")},
        "issuetype": {"name": ticket.extra("jira", "issue_type") or "Task"},
        "summary": one_line(ticket.title),
    }
    if ticket.body:
        fields["description"] = ticket.body
    if ticket.labels:
        fields["labels"] = list(ticket.labels)
    if ticket.priority:
        fields["priority"] = {"name": ticket.priority}
    return fields


def with_marker(fields: dict[str, Any], key: str) -> dict[str, Any]:
    labels = list(fields.get("labels", []))
    if marker_label(key) not in labels:
        labels.append(marker_label(key))
    return {**fields, "labels": labels}


class JiraShaped:
    """Preparing a ticket as Jira's fields: shared by Jira and the outbox, which keeps tickets
    exactly as Jira would get them."""

    kind = name = "jira"
    limits = JIRA_LIMITS

    def prepare(self, ticket: Ticket, origin: Origin) -> Prepared:
        fields, full = fit_fields(jira_fields(ticket), origin.link)
        return Prepared(with_marker(fields, origin.key), full)

    def refit(self, payload: dict[str, Any], link: str) -> Prepared:
        fields, full = fit_fields(payload, link)
        return Prepared(fields, full)

    def problems(self, ticket: Ticket) -> list[str]:
        problems = ticket_problems(jira_fields(ticket))
        if not ticket.extra("jira", "project"):
            problems.append("project: required (the Jira project the issue goes to)")
        return problems

    def label_problems(self, labels: Sequence[str]) -> list[str]:
        return label_problems(labels)


class JiraReceiver(JiraShaped):
    """A real Jira, through the ``jira`` client with its own retries off and a timeout set: the
    hub decides what to retry (the client's session would retry POSTs, creating duplicates)."""

    def __init__(self, url: str, user: str, token: str, timeout: float) -> None:
        self.url = url
        self.options = {"server": url, "basic_auth": (user, token), "max_retries": 0, "timeout": timeout}
        self._jira: JIRA | None = None

    @classmethod
    def from_settings(cls) -> "JiraReceiver":
        return cls(settings.JIRA_URL, settings.JIRA_USER, settings.JIRA_API_TOKEN, settings.JIRA_TIMEOUT)

    def link(self, external_key: str) -> str:
        return f"{self.url.rstrip('/')}/browse/{external_key}"

    @property
    def jira(self) -> JIRA:
        """Built on first use: it asks Jira for serverInfo (Cloud searches elsewhere than Server)."""
        if self._jira is None:
            try:
                self._jira = JIRA(**self.options, get_server_info=True)
            except JIRAError as exc:
                raise classify_jira_error(exc, create=False) from exc
            except requests.RequestException as exc:
                raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        return self._jira

    def deliver(self, payload: dict[str, Any]) -> str:
        jira = self.jira
        try:
            return jira.create_issue(fields=payload, prefetch=False).key
        except JIRAError as exc:
            raise classify_jira_error(exc, create=True) from exc
        except requests.RequestException as exc:
            kind = TransientError if never_sent(exc) else AmbiguousError
            raise kind(f"{type(exc).__name__}: {exc}") from exc

    def find(self, key: str) -> str | None:
        label = marker_label(key)
        found = self._call(
            lambda jira: jira.search_issues(
                f'labels = "{label}"', maxResults=2, fields=["labels"], json_result=True
            )
        )
        issues = found.get("issues") or []
        return issues[0]["key"] if issues else None

    def add_note(self, external_key: str, title: str, body: str) -> None:
        # Not a create: a comment sent twice is a nuisance, not a second ticket.
        self._call(lambda jira: jira.add_comment(external_key, body))

    def mark(self, external_key: str, key: str, rule: str) -> None:
        value = {"key": key, "rule": rule}
        self._call(lambda jira: jira.add_issue_property(external_key, PROPERTY_KEY, value))

    def _call(self, call):
        jira = self.jira
        try:
            return call(jira)
        except JIRAError as exc:
            raise classify_jira_error(exc, create=False) from exc
        except requests.RequestException as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc


def never_sent(exc: requests.RequestException) -> bool:
    """Whether a request failed before it reached Jira (no connection was made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", exc.args[0])
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def classify_jira_error(exc: JIRAError, *, create: bool) -> DeliveryError:
    """Jira's answer as a transient, ambiguous or permanent error, keeping Jira's own message."""
    status = exc.status_code
    message = f"Jira answered {status}: {jira_message(exc)}"
    if status == 429:
        return TransientError(message, status, retry_after=retry_after(exc))
    if status is None or status >= 500:
        return (AmbiguousError if create else TransientError)(message, status)
    return PermanentError(message, status)


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
