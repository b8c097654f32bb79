"""Mail written, not sent: with no EMAIL_URL, Django's file backend writes each message the email
receiver sends to a file in HUB_MAIL_DIR (core.mail); this admin page shows the newest of them,
for those who may see the outbox's tickets."""

import email
import email.policy
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from core.mail import FILE_BACKEND

SHOWN = 200  # the newest files read for the page; older ones stay on disk
FILE_BYTES_READ = 2 * 1024 * 1024  # of each file: a message over it is shown cut
SEPARATOR = b"\n" + b"-" * 79 + b"\n"  # between the messages of one file (Django's file backend)


@dataclass(frozen=True)
class Written:
    file: str
    date: str
    subject: str
    to: str
    message_id: str
    in_reply_to: str
    body: str


def written_mail(folder: Path, limit: int = SHOWN) -> list[Written]:
    """The messages of the newest ``limit`` files of ``folder``, newest first. Django names a file
    by the second it was opened and the connection's id() (YYYYmmdd-HHMMSS-id.log), which does not
    order the files of one second, and appends to a file of that name: by the last write, then."""
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        files = [(e.stat().st_mtime_ns, e.path) for e in entries if e.name.endswith(".log") and e.is_file()]
    shown = []
    for _, name in sorted(files, reverse=True)[:limit]:
        path = Path(name)
        with path.open("rb") as handle:
            raw = handle.read(FILE_BYTES_READ)
        for part in reversed([part for part in raw.split(SEPARATOR) if part.strip()]):
            message = email.message_from_bytes(part, policy=email.policy.default)
            text = message.get_body(preferencelist=("plain",))
            shown.append(
                Written(
                    file=path.name,
                    date=str(message.get("Date", "")),
                    subject=str(message.get("Subject", "")),
                    to=str(message.get("To", "")),
                    message_id=str(message.get("Message-ID", "")),
                    in_reply_to=str(message.get("In-Reply-To", "")),
                    body=text.get_content() if text is not None else "",
                )
            )
    return shown


@permission_required("outbox.view_outboxticket", raise_exception=True)
def mail_written(request: HttpRequest) -> HttpResponse:
    folder = Path(getattr(settings, "EMAIL_FILE_PATH", "") or settings.HUB_MAIL_DIR)
    context = {
        **admin.site.each_context(request),
        "title": "Mail written, not sent",
        "folder": folder,
        "writing": settings.EMAIL_BACKEND == FILE_BACKEND,
        "messages": written_mail(folder),
        "shown": SHOWN,
    }
    return TemplateResponse(request, "outbox/mail.html", context)
