"""The Content-Security-Policy header over real HTTP, from the Procfile's web process (uvicorn):
on the login page, the live page, the admin and the API docs. That the pages keep working under
it, with no violation, is the browser test's part (tests/dashboard/test_browser.py)."""

import pytest
from django.contrib.auth.models import Group, User

from tests.clients import client_at, log_in, logged_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

POLICY = {
    "default-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
}


def directives(header: str) -> set[str]:
    return {part.strip() for part in header.split(";")}


def test_the_policy_is_on_the_hubs_pages(start_web):
    # Given the web process and an operator logged in over HTTP
    base = start_web()
    User.objects.create_user("ops", password="pw", is_staff=True).groups.add(
        Group.objects.get(name="operators")
    )
    session = client_at("127.0.0.1")
    login_page = session.get(f"{base}/admin/login/", timeout=30)
    assert logged_in(log_in(session, base, "ops", "pw"))

    # When it opens the live page, the admin and the API docs
    pages = {url: session.get(f"{base}{url}", timeout=30) for url in ("/live/", "/admin/", "/api/docs")}

    # Then each answer carries the whole policy, and so did the login page
    pages["/admin/login/"] = login_page
    for url, page in pages.items():
        assert page.status_code == 200, f"{url} answered {page.status_code}"
        header = page.headers.get("Content-Security-Policy", "")
        assert directives(header) == POLICY, f"{url}: {header!r}"
        assert "unsafe-inline" not in header
