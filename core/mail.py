"""Django's email settings, for the email receiver, from one variable: ``EMAIL_URL``.

- ``smtp://user:password@host:port`` — SMTP, plain (port 25 unless given);
- ``smtp+tls://…`` — SMTP with STARTTLS (port 587 unless given);
- ``smtps://…`` — SMTP over TLS from the first byte (port 465 unless given).

The password may come from ``EMAIL_PASSWORD`` instead of the URL (so that the URL can be shown).
Without ``EMAIL_URL`` nothing is sent: each message is written to a file in the mail folder
(Django's file backend), which the admin shows under "Mail written, not sent"."""

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
SCHEMES = {"smtp": (25, False, False), "smtp+tls": (587, True, False), "smtps": (465, False, True)}


class BadEmailURL(ValueError):
    """EMAIL_URL cannot be used; the message never holds the URL (it may hold a password)."""


def email_settings(url: str, mail_dir: Path, password: str = "") -> dict[str, Any]:
    """The EMAIL_* settings for ``url`` (empty: the file backend into ``mail_dir``)."""
    if not url:
        return {"EMAIL_BACKEND": FILE_BACKEND, "EMAIL_FILE_PATH": str(mail_dir)}
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise BadEmailURL(f"the scheme {parts.scheme!r} is not one of {', '.join(sorted(SCHEMES))}")
    try:
        port = parts.port
    except ValueError:
        raise BadEmailURL("the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise BadEmailURL("no host")
    unknown = set(parse_qs(parts.query, keep_blank_values=True)) - {"timeout"}
    if unknown:
        raise BadEmailURL(f"unknown options {sorted(unknown)}: only timeout is known")
    timeout = parse_qs(parts.query).get("timeout", ["30"])[0]
    try:
        timeout_seconds = float(timeout)
    except ValueError:
        raise BadEmailURL("timeout is not a number of seconds") from None
    default_port, starttls, ssl = SCHEMES[parts.scheme]
    return {
        "EMAIL_BACKEND": SMTP_BACKEND,
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port or default_port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or "") or password,
        "EMAIL_USE_TLS": starttls,
        "EMAIL_USE_SSL": ssl,
        "EMAIL_TIMEOUT": timeout_seconds,
    }
