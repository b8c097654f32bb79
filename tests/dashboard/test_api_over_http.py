"""The API's writes over real HTTP, against the Procfile's web process (uvicorn, ASGI): a bearer
token writes without CSRF, a session's writes need the CSRF token (Django's test client skips the
CSRF check, so only a real server shows which authenticator answers); and a ticket too long for
Jira goes through a real worker and the real jira client into the fake Jira, cut, and whole in
the hub."""

import re
from urllib.parse import urlparse

import pytest
import requests

from dashboard.models import ApiToken
from jira_bridge.models import TicketRequest
from notifications.models import JobFailure
from tests.conftest import wait_for
from tests.dashboard.test_api import account, dead_letter
from tests.dashboard.test_live import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TICKET = {"summary": "Rotate the prod keys", "environment": "prod", "idempotency_key": "rotate-2026-11"}


def operator_token() -> dict[str, str]:
    _, token = ApiToken.issue(account("operators"), "deploys")
    return {"Authorization": f"Bearer {token}"}


def test_a_bearer_token_asks_for_a_ticket_once_per_idempotency_key(start_web):
    # Given the web process and an operator's token
    base = start_web(JIRA_DEFAULT_PROJECT="OPS")
    headers = operator_token()

    # When the token asks for the same ticket twice
    first = requests.post(f"{base}/api/tickets", json=TICKET, headers=headers, timeout=30)
    again = requests.post(f"{base}/api/tickets", json=TICKET, headers=headers, timeout=30)

    # Then the first makes the request and the second finds it
    assert first.status_code == 201, f"a token must write without CSRF: {first.status_code} {first.text}"
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"], "the same idempotency key, the same request"
    assert TicketRequest.objects.count() == 1


def test_a_bearer_token_replays_a_dead_letter(start_web):
    # Given a dead letter and an operator's token
    failure = dead_letter()
    base = start_web()

    # When the token replays it
    response = requests.post(f"{base}/api/failures/{failure.pk}/replay", headers=operator_token(), timeout=30)

    # Then it is replayed through the ledger
    assert response.status_code == 200, f"a token must write without CSRF: {response.text}"
    assert response.json()["state"] == "replayed"
    assert JobFailure.objects.get().state == "replayed"
    assert TicketRequest.objects.get().state == "reserved", "back in the ledger, to be created"


def test_a_session_write_needs_the_csrf_token_and_works_with_it(start_web):
    # Given an operator logged in over HTTP
    base = start_web(JIRA_DEFAULT_PROJECT="OPS")
    session = login(base)

    # When the session posts a ticket without the CSRF token
    refused = session.post(f"{base}/api/tickets", json=TICKET, timeout=30)

    # Then it is refused and nothing is asked for
    assert refused.status_code == 403 and "CSRF" in refused.text, (refused.status_code, refused.text)
    assert not TicketRequest.objects.exists()

    # When it sends the CSRF cookie's token in the header
    done = session.post(
        f"{base}/api/tickets", json=TICKET, headers={"X-CSRFToken": session.cookies["csrftoken"]}, timeout=30
    )

    # Then the ticket is asked for
    assert done.status_code == 201, done.text
    assert TicketRequest.objects.get().rule_name == "api:ops"


def test_a_40000_character_description_reaches_jira_cut_with_a_note_and_stays_whole_in_the_hub(
    start_web, start_worker, fake_jira
):
    # Given the web process, a worker with Jira configured, and an operator logged in
    base = start_web(JIRA_DEFAULT_PROJECT="OPS")
    start_worker(HUB_TEST_JIRA_URL=fake_jira.url)
    session = login(base)
    description = "An export of every note on the account.\n" + "n" * 39_949 + "\nTHE-END-42"
    assert len(description) == 40_000

    # When a ticket with it is asked for, its summary on two lines
    body = {"summary": "Notes\nexported", "description": description, "environment": "prod"}
    asked = session.post(
        f"{base}/api/tickets", json=body, headers={"X-CSRFToken": session.cookies["csrftoken"]}, timeout=30
    )
    assert asked.status_code == 201, asked.text

    # Then the worker creates it in Jira, which takes it: one line, 32,767 characters with the note
    wait_for(lambda: TicketRequest.objects.filter(state="created").exists(), message="the ticket created")
    (issue,) = fake_jira.issues.values()
    sent = issue["fields"]["description"]
    assert issue["fields"]["summary"] == "Notes exported"
    assert len(sent) == 32_767 and "THE-END-42" not in sent, len(sent)
    note = re.search(r"The full description is in the hub: (\S+)\]$", sent)
    assert note, sent[-300:]

    # and the note's link opens the hub's page of the request, with the whole description
    page = session.get(base + urlparse(note[1]).path, timeout=30)
    request = TicketRequest.objects.get()
    assert page.status_code == 200 and page.url.endswith(f"/tickets/{request.pk}/"), page.url
    assert "THE-END-42" in page.text and request.full_description == description
