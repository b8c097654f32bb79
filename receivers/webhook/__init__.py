"""The webhook receiver: a ticket is POSTed as JSON to a URL (or in Slack's incoming-webhook
shape, ``format: slack``).

Every delivery carries an ``Idempotency-Key`` header, the same on every attempt of one ticket,
and, when a secret is set, ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``. The
secret is read from the environment variable the receiver names, when it sends, and is stored
nowhere. A 2xx answer is delivered; 408, 429, 5xx, a timeout or a cut connection are tried again
(a 429's or 503's ``Retry-After`` honoured); any other answer fails at once, with the answer.

The guarantee is at least once: a webhook cannot be asked whether an earlier attempt arrived,
so an attempt whose answer was lost is sent again, with the same idempotency key."""

import hashlib
import hmac
import json
import os
from typing import Any

import requests

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

FORMATS = ("json", "slack")
RETRIED = frozenset({408, 425, 429})  # and every 5xx
ANSWER_MAX = 64 * 1024  # bytes of an answer read: its id, or the reason it gave
BODY_MAX = 100_000  # characters of a ticket's body sent
SIGNATURE_HEADER = "X-Hub-Signature-256"
USER_AGENT = "event-hub-webhook/1"


class WebhookReceiver(MessageKind):
    kind = "webhook"
    limits = Limits(title_max=1000, text_max=BODY_MAX)

    def __init__(
        self,
        name: str,
        url: str,
        *,
        secret_env: str = "",
        format: str = "json",
        timeout: float = 10.0,
        environ: dict[str, str] | None = None,
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"format: {format!r} is not one of {', '.join(FORMATS)}")
        self.name, self.url, self.format, self.timeout = name, url, format, timeout
        self.secret_env = secret_env  # the variable's name: the secret itself is read when sending
        self.environ = os.environ if environ is None else environ

    def prepare(self, ticket: Ticket, origin: Origin) -> Prepared:
        title = self.limits.shorten(one_line(ticket.title), self.limits.title_max)
        body, full = cut_body(ticket.body, BODY_MAX, origin.link)
        if self.format == "slack":
            text = f"*{title}*" + (f"\n{body}" if body else "") + f"\n<{origin.link}|Open in the hub>"
            content: dict[str, Any] = {"text": text}
        else:
            content = {
                "title": title,
                "body": body,
                "labels": list(ticket.labels),
                "priority": ticket.priority,
                "rule": origin.rule,
                "environment": origin.environment,
                "source": origin.source,
                "events": origin.events,
                "link": origin.link,
                "idempotency_key": origin.key,
            }
        return Prepared({"idempotency_key": origin.key, "content": content}, full)

    def deliver(self, payload: dict[str, Any]) -> str:
        body = json.dumps(payload["content"], ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": payload["idempotency_key"],
            "User-Agent": USER_AGENT,
        }
        secret = self.secret()
        if secret:
            headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        try:
            with requests.post(
                self.url, data=body, headers=headers, timeout=self.timeout, stream=True
            ) as answer:
                text = answer.raw.read(ANSWER_MAX, decode_content=True).decode("utf-8", "replace")
                return self.outcome(answer, text, payload["idempotency_key"])
        except requests.RequestException as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc

    def outcome(self, answer: requests.Response, text: str, key: str) -> str:
        status = answer.status_code
        if 200 <= status < 300:
            return answer_id(text) or answer.headers.get("X-Request-Id") or key
        said = f"the webhook answered {status}: {text[:500].strip() or answer.reason}"
        if status in RETRIED or status >= 500:
            raise TransientError(said, status, retry_after=retry_after(answer))
        raise PermanentError(said, status)

    def secret(self) -> bytes:
        if not self.secret_env:
            return b""
        value = self.environ.get(self.secret_env)
        if not value:  # a signature was asked for: sending unsigned would be worse than not at all
            raise PermanentError(f"the secret's environment variable {self.secret_env} is not set")
        return value.encode()

    def add_note(self, external_key: str, title: str, body: str) -> None:
        return None  # tickets are sent whole; a webhook hears of a ticket once


def answer_id(text: str) -> str:
    """The id a receiver gave what it made, if its answer is JSON holding one."""
    try:
        found = json.loads(text)
    except ValueError:
        return ""
    if isinstance(found, dict) and isinstance(found.get("id"), str | int):
        return str(found["id"])[:64]
    return ""


def retry_after(answer: requests.Response) -> float | None:
    try:
        return max(float(answer.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return None
