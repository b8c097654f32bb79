"""Refused bearer tokens are throttled per client address (counted in Redis), on the API and
/metrics alike, over real HTTP against the Procfile's web process (uvicorn). A second client is a
second loopback address (127.0.0.2): a different source address at the TCP level, as a second
machine would be, with no proxy header."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from dashboard.models import ApiToken
from tests.clients import client_at
from tests.dashboard.test_api import account

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LIMIT = 10  # HUB_TOKEN_FAILURE_LIMIT's default
METRICS_TOKEN = "a-long-scrape-secret"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api_token() -> str:
    return ApiToken.issue(account("viewers"), "ci")[1]


def test_after_ten_refused_tokens_a_client_is_answered_429_even_with_a_good_one(start_web, api_token):
    # Given the web process and one client
    base = start_web()
    client = client_at("127.0.0.1")

    # When it sends 100 wrong tokens as fast as it can
    answers = [
        client.get(f"{base}/api/queues", headers=bearer(f"hub_guess{i}"), timeout=30) for i in range(100)
    ]

    # Then the first ten are refused as unknown and the rest throttled, with a time to come back
    codes = [a.status_code for a in answers]
    assert codes == [401] * LIMIT + [429] * (100 - LIMIT), codes
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60, answers[-1].headers

    # and while throttled even its good token is answered 429 (no answer tells a right guess)
    good = client.get(f"{base}/api/queues", headers=bearer(api_token), timeout=30)
    assert good.status_code == 429 and "Retry-After" in good.headers, good.status_code
    docs = client.get(f"{base}/api/docs", headers=bearer(api_token), timeout=30)
    assert docs.status_code == 429, "the docs page takes the same token, so the same throttle"

    # and another client with the good token is served
    other = client_at("127.0.0.2").get(f"{base}/api/queues", headers=bearer(api_token), timeout=30)
    assert other.status_code == 200, "the throttle is per client address"


def test_a_burst_of_concurrent_wrong_tokens_gets_no_more_answers_than_the_limit(start_web):
    # Given the web process, and forty guesses ready to leave at once
    base = start_web()
    burst = 40
    ready = threading.Barrier(burst)

    def guess(i: int) -> int:
        ready.wait()
        return requests.get(f"{base}/api/queues", headers=bearer(f"hub_guess{i}"), timeout=30).status_code

    # When they are sent all at the same time
    with ThreadPoolExecutor(burst) as pool:
        codes = sorted(pool.map(guess, range(burst)))

    # Then only as many as the limit were looked at (401); the rest were throttled unseen
    assert codes == [401] * LIMIT + [429] * (burst - LIMIT), f"{codes.count(401)} guesses were looked at"


def test_good_tokens_do_not_count_against_their_client(start_web, api_token):
    # Given a client that has sent thirty good tokens
    base = start_web()
    good = [requests.get(f"{base}/api/queues", headers=bearer(api_token), timeout=30) for _ in range(30)]
    assert {a.status_code for a in good} == {200}

    # When it sends wrong ones
    codes = [
        requests.get(f"{base}/api/queues", headers=bearer(f"hub_guess{i}"), timeout=30).status_code
        for i in range(LIMIT + 1)
    ]

    # Then it still has the whole limit of refusals before it is throttled
    assert codes == [401] * LIMIT + [429], codes


def test_refused_tokens_on_metrics_and_the_api_count_together(start_web):
    # Given the web process with a metrics token
    base = start_web(HUB_METRICS_TOKEN=METRICS_TOKEN)
    client = client_at("127.0.0.1")

    # When a client sends half its wrong tokens to /metrics and half to the API
    half = LIMIT // 2
    codes = [
        client.get(f"{base}/metrics", headers=bearer(f"guess{i}"), timeout=30).status_code
        for i in range(half)
    ]
    codes += [
        client.get(f"{base}/api/queues", headers=bearer(f"hub_guess{i}"), timeout=30).status_code
        for i in range(half)
    ]
    assert codes == [401] * LIMIT, codes

    # Then the next token is throttled on both, the right metrics token too
    throttled = client.get(f"{base}/metrics", headers=bearer(METRICS_TOKEN), timeout=30)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert client.get(f"{base}/api/queues", headers=bearer("hub_more"), timeout=30).status_code == 429

    # and the right token from another client scrapes
    scrape = client_at("127.0.0.2").get(f"{base}/metrics", headers=bearer(METRICS_TOKEN), timeout=30)
    assert scrape.status_code == 200 and "hub_" in scrape.text


def test_a_throttled_client_is_served_again_when_its_window_ends(start_web, api_token):
    # Given a window of two seconds, and a client that used up its refused tokens
    base = start_web(HUB_TOKEN_FAILURE_WINDOW="2")
    for i in range(LIMIT):
        requests.get(f"{base}/api/queues", headers=bearer(f"hub_guess{i}"), timeout=30)
    assert requests.get(f"{base}/api/queues", headers=bearer(api_token), timeout=30).status_code == 429

    # When the window ends
    time.sleep(2.5)

    # Then its good token works again
    assert requests.get(f"{base}/api/queues", headers=bearer(api_token), timeout=30).status_code == 200
