"""What every receiver kind shares: the hub's own ticket, the errors a delivery ends in, and the
protocol a kind implements. Imports no app of the hub."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Ticket:
    """A ticket as the hub means it, before any receiver shapes it. ``extras`` holds what only one
    kind reads, by kind: ``{"jira": {"project": "OPS", "issue_type": "Task"}}``."""

    title: str
    body: str = ""
    labels: tuple[str, ...] = ()
    priority: str = ""
    extras: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def extra(self, kind: str, name: str, default: Any = "") -> Any:
        return (self.extras.get(kind) or {}).get(name, default)


@dataclass(frozen=True)
class Origin:
    """What a receiver may tell of where a ticket comes from: its key (the hub's identity of the
    ticket, stable across attempts), the hub's page of it, the rule, environment and source, and
    how many events are behind it."""

    key: str
    link: str
    rule: str = ""
    environment: str = ""
    source: str = ""
    events: int = 0


def one_line(text: str) -> str:
    """A title as every receiver takes it: runs of white space (newlines too) become one space."""
    return " ".join(text.split())


def cut_body(body: str, limit: int, link: str) -> tuple[str, str]:
    """``body`` within ``limit`` characters, cut with a note linking to the full text in the hub;
    and the body as it was when it had to be cut (else "")."""
    if len(body) <= limit:
        return body, ""
    note = f"\n\n[Cut here: the full text is in the hub: {link}]"
    return body[: limit - len(note)] + note, body


@dataclass(frozen=True)
class Prepared:
    """What a receiver sends for a ticket (its ``payload``, stored as sent), and the body as it
    was rendered when the receiver's limits cut it (else "")."""

    payload: dict[str, Any]
    full_body: str = ""


@dataclass(frozen=True)
class Limits:
    """A receiver's limits on text, in its own units (Jira counts UTF-16 code units)."""

    title_max: int
    text_max: int  # a body, a note

    def length(self, text: str) -> int:
        return len(text)

    def shorten(self, text: str, limit: int) -> str:
        """``text`` within ``limit``, ending in an ellipsis if it had to be cut."""
        return text if self.length(text) <= limit else text[: max(limit - 1, 0)] + "…"


class DeliveryError(Exception):
    """A call to a receiver failed. ``status`` is its HTTP status, if it answered."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TransientError(DeliveryError):
    """Not done, worth trying later: 429, connection refused, or a failed read-only call."""


class AmbiguousError(DeliveryError):
    """A delivery whose outcome is unknown: timeout, connection cut, or 5xx after it was sent."""


class PermanentError(DeliveryError):
    """Trying again will not help: the receiver refused what was sent, or who sent it."""


class Receiver(Protocol):
    """One kind of place tickets go. ``key`` is the hub's identity of a ticket (stable across
    attempts); the external key is the receiver's name for what it made (a Jira key)."""

    kind: str
    name: str  # the receiver's own name (its budget and breaker are kept under it)
    limits: Limits

    def prepare(self, ticket: Ticket, origin: Origin) -> Prepared:
        """The payload for ``ticket`` within the receiver's limits; a cut body ends in a note
        linking to ``origin.link``, the full text in the hub."""

    def refit(self, payload: dict[str, Any], link: str) -> Prepared:
        """A payload stored by an older hub brought within today's limits."""

    def problems(self, ticket: Ticket) -> list[str]:
        """What the receiver would refuse and ``prepare`` cannot mend, one reason each."""

    def label_problems(self, labels: Sequence[str]) -> list[str]:
        """What the receiver would refuse of these labels alone (a rule's, checked at import)."""

    def deliver(self, payload: dict[str, Any]) -> str:
        """Send; the external key. Raises TransientError, AmbiguousError or PermanentError."""

    def find(self, key: str) -> str | None:
        """The external key of an earlier delivery of ``key``, or None if none is visible (yet)."""

    def add_note(self, external_key: str, title: str, body: str) -> None:
        """Tell what was delivered of something new (events that joined it)."""

    def mark(self, external_key: str, key: str, rule: str) -> None:
        """Record the hub's identity on what was delivered, where the kind can hold one."""

    def link(self, external_key: str) -> str:
        """Where people see what was delivered ("" if nowhere outside the hub)."""


class MessageKind:
    """What the kinds that send a message and keep nothing of it share (webhook, email): the
    stored payload is sent as it is, any label travels as text, nothing outside the hub shows
    what was sent, and the receiver cannot be asked what it received (so nothing is found again
    or marked): a retry sends again, under the same idempotency key or Message-ID."""

    title_needed = "a ticket needs one"  # said when a ticket's title is empty

    def link(self, external_key: str) -> str:
        return ""

    def refit(self, payload: dict[str, Any], link: str) -> Prepared:
        return Prepared(payload)

    def problems(self, ticket: Ticket) -> list[str]:
        return [] if one_line(ticket.title) else [f"title: empty ({self.title_needed})"]

    def label_problems(self, labels: Sequence[str]) -> list[str]:
        return []

    def find(self, key: str) -> str | None:
        return None

    def mark(self, external_key: str, key: str, rule: str) -> None:
        return None
