"""Where the email receiver's mail goes: SMTP from EMAIL_URL, else files in the mail folder, which
the admin shows (receivers/outbox/mail.py)."""

import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.test import Client

from core.mail import FILE_BACKEND, SMTP_BACKEND, BadEmailURL, email_settings
from receivers.email import EmailReceiver, message_id
from tests.conftest import ROOT
from tests.dashboard.test_pages import person_user
from tests.receivers.test_email import ORIGIN, TICKET


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.internal", {"EMAIL_HOST": "mail.internal", "EMAIL_PORT": 25, "EMAIL_USE_TLS": False}),
        (
            "smtp+tls://hub%40corp:p%40ss@mail.internal",
            {
                "EMAIL_PORT": 587,
                "EMAIL_USE_TLS": True,
                "EMAIL_HOST_USER": "hub@corp",
                "EMAIL_HOST_PASSWORD": "p@ss",
            },
        ),
        (
            "smtps://mail.internal:2465?timeout=5",
            {"EMAIL_PORT": 2465, "EMAIL_USE_SSL": True, "EMAIL_TIMEOUT": 5.0},
        ),
    ],
)
def test_email_url_gives_djangos_smtp_settings(url, expected):
    values = email_settings(url, ROOT / "unused")
    assert values["EMAIL_BACKEND"] == SMTP_BACKEND
    assert {key: values[key] for key in expected} == expected


def test_the_password_may_come_from_its_own_variable():
    assert email_settings("smtp://hub@mail.internal", ROOT, "from-env")["EMAIL_HOST_PASSWORD"] == "from-env"
    assert (
        email_settings("smtp://hub:in-url@mail.internal", ROOT, "from-env")["EMAIL_HOST_PASSWORD"] == "in-url"
    )


def test_without_email_url_mail_is_written_to_files_in_the_mail_folder(tmp_path):
    assert email_settings("", tmp_path) == {"EMAIL_BACKEND": FILE_BACKEND, "EMAIL_FILE_PATH": str(tmp_path)}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://hub:s3cret@mail.internal", "the scheme 'https'"),
        ("smtp://hub:s3cret@:25", "no host"),
        ("smtp://hub:s3cret@mail.internal:99999", "the port"),
        ("smtp://hub:s3cret@mail.internal?tls=1", "unknown options ['tls']"),
        ("smtp://hub:s3cret@mail.internal?timeout=soon", "timeout is not a number"),
    ],
)
def test_an_email_url_the_hub_cannot_use_is_refused_without_showing_it(url, reason):
    with pytest.raises(BadEmailURL) as refused:
        email_settings(url, ROOT)
    assert reason in str(refused.value) and "s3cret" not in str(refused.value)


def test_the_hub_does_not_start_with_a_bad_email_url_and_does_not_print_it():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hub.settings", "EMAIL_URL": "ftp://hub:s3cret@mail"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "EMAIL_URL: the scheme 'ftp' is not one of smtp, smtp+tls, smtps" in result.stderr
    assert "s3cret" not in result.stdout + result.stderr


@pytest.mark.django_db
def test_mail_written_to_files_is_shown_in_the_admin_to_those_who_see_the_outbox(settings, tmp_path):
    # Given no SMTP: the file backend, as without EMAIL_URL
    settings.EMAIL_BACKEND, settings.EMAIL_FILE_PATH = FILE_BACKEND, str(tmp_path)
    # When the email receiver sends a ticket and a digest update in its thread
    mail = EmailReceiver("ops-mail", ["ops@example.com"], from_email="hub@example.com")
    external = mail.deliver(mail.prepare(TICKET, ORIGIN).payload)
    mail.add_note(external, "Order 7 refunded", "2 more events")
    # (Django names a file by the second and the connection's id(): two messages may share one)
    assert list(tmp_path.glob("*.log")), "written to the mail folder"

    # Then a viewer sees both on the admin's mail page, the reply newest and in the thread
    viewer = Client()
    viewer.force_login(person_user("viewers"))
    page = viewer.get("/admin/mail/")
    assert page.status_code == 200
    shown = page.context["messages"]
    assert [m.subject for m in shown] == ["Re: Order 7 refunded", "Order 7 refunded"]
    assert shown[1].message_id == message_id(ORIGIN.key) == shown[0].in_reply_to
    assert shown[1].to == "ops@example.com" and ORIGIN.link in shown[1].body
    assert "Mail written, not sent" in viewer.get("/admin/outbox/outboxticket/").content.decode()

    # and nobody else: staff without a role is refused, and no login goes to the login page
    nobody = Client()
    nobody.force_login(User.objects.create_user("staff-only", password="pw", is_staff=True))
    assert nobody.get("/admin/mail/").status_code == 403
    assert Client().get("/admin/mail/")["Location"].startswith("/admin/login/")
