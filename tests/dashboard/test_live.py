"""The live page's stream, end to end: the Procfile's web process (uvicorn), a worker and the
publisher; a logged-in client reads the server-sent events a worker publishes."""

import json
import os
import queue
import re
import signal
import threading
import time

import pytest
import requests
from django.contrib.auth.models import Group, User
from django.core.management import call_command

from tests.conftest import EXAMPLES, run_publisher, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REFUND = (
    '{"database":"shop","table":"orders","type":"update","ts":1763700100,"xid":77,"commit":true,'
    '"data":{"id":4242,"status":"refunded","card_number":"4111111111111111"},"old":{"status":"paid"}}\n'
)


def login(base: str, username: str = "ops") -> requests.Session:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="operators"))
    session = requests.Session()
    form = session.get(f"{base}/admin/login/").text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)[1]
    page = session.post(
        f"{base}/admin/login/?next=/live/",
        data={"username": username, "password": "pw", "csrfmiddlewaretoken": token, "next": "/live/"},
    )
    assert page.status_code == 200 and page.url.endswith("/live/"), page.url
    return session


def listen(session: requests.Session, url: str) -> "queue.Queue[tuple[str, dict]]":
    """Read the event stream in a thread; (event type, data) pairs arrive on the queue."""
    received: queue.Queue = queue.Queue()

    def read() -> None:
        with session.get(url, stream=True, timeout=120) as response:
            received.put(("status", {"code": response.status_code}))
            event = None
            try:
                for line in response.iter_lines(decode_unicode=True):
                    if line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("data: ") and event:
                        received.put((event, json.loads(line.removeprefix("data: "))))
            except requests.exceptions.ChunkedEncodingError:
                pass  # the web process stopped at the end of the test

    threading.Thread(target=read, daemon=True).start()
    return received


def next_event(received: queue.Queue, kind: str, accept=lambda data: True) -> dict:
    def found():
        while not received.empty():
            event, data = received.get()
            if event == kind and accept(data):
                return data
        return None

    return wait_for(found, timeout=60, message=f"a {kind} event")


def test_a_published_change_reaches_a_logged_in_stream_as_it_happens(broker, start_web, start_worker):
    # Given the example rules, the web process and a worker, and an operator watching the stream
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    base = start_web()
    start_worker()
    session = login(base)
    received = listen(session, f"{base}/live/events/")
    assert next_event(received, "status")["code"] == 200

    # Then snapshots arrive with the worker's heartbeats
    first = next_event(received, "snapshot")
    assert {q["name"] for q in first["queues"]} >= {"cdc:prod", "jira:create", "jira:retry"}
    assert first["breaker"]["state"] == "closed" and first["workers"] >= 1

    # When a refund is published into prod
    result = run_publisher("prod", REFUND.encode())
    assert result.returncode == 0, result.stderr.decode()

    # Then the batch job and the ticket job appear on the stream, and the counters move
    batch = next_event(received, "job", lambda j: j["queue"] == "cdc:prod")
    assert batch["env"] == "prod" and batch["failed"] is False
    assert batch["result"] == {"events": 1, "duplicates": 0, "rejected": 0, "tickets": 1}
    created = next_event(received, "job", lambda j: j["name"] == "jira_bridge.create_ticket")
    assert created["result"] == "created" and created["arg0"] is not None
    counted = next_event(received, "snapshot", lambda s: s["per_minute"]["prod"]["tickets"][-1] == 1)
    assert counted["per_minute"]["prod"]["events"][-1] == 1
    assert counted["last_24h"]["prod"]["tickets"] == 1

    # and the same job is in the API and on its own page, linked to its ticket request
    params = {"queue": "jira:create", "name": "jira_bridge.create_ticket"}
    jobs = session.get(f"{base}/api/jobs", params=params).json()["jobs"]
    assert [j["id"] for j in jobs] == [created["id"]]
    page = session.get(f"{base}/jobs/{created['id']}/")
    assert page.status_code == 200 and f"/tickets/{created['arg0']}/" in page.text
    ticket = session.get(f"{base}/tickets/{created['arg0']}/").text
    assert "Order 4242 refunded in prod" in ticket
    assert "4111111111111111" not in ticket, "the card number never reaches a page"
    assert "[redacted]" in ticket, "the event as the templates saw it"


def test_a_bad_line_shows_up_among_the_errors(broker, start_web, start_worker):
    base = start_web()
    start_worker()
    received = listen(login(base), f"{base}/live/events/")
    assert next_event(received, "status")["code"] == 200

    result = run_publisher("dev", b'{"database":"shop","table":"orders","type":"upsert","data":{}}\n')
    assert result.returncode == 0, result.stderr.decode()

    errors = next_event(received, "errors")
    assert errors[0]["kind"] == "bad_input" and "upsert" in errors[0]["message"]


def test_the_stream_is_refused_without_a_staff_login(start_web):
    base = start_web()
    assert requests.get(f"{base}/live/events/", timeout=10).status_code == 401
    User.objects.create_user("outsider", password="pw")  # not staff
    session = requests.Session()
    form = session.get(f"{base}/admin/login/").text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)[1]
    session.post(f"{base}/admin/login/", data={"username": "outsider", "password": "pw",
                                               "csrfmiddlewaretoken": token})  # fmt: skip
    assert session.get(f"{base}/live/events/", timeout=10).status_code == 401


def test_a_hub_on_another_redis_database_of_the_same_server_does_not_reach_this_stream(
    broker, start_web, settings
):
    # Given the web process streaming to a logged-in operator
    from notifications.live import publish

    base = start_web()
    received = listen(login(base), f"{base}/live/events/")
    assert next_event(received, "status")["code"] == 200

    def arrived() -> bool:  # the stream is subscribed once a job published now reaches it
        publish("job", {"id": "ready"})
        time.sleep(0.2)
        jobs = []
        while not received.empty():
            jobs.append(received.get())
        return ("job", {"id": "ready"}) in jobs

    wait_for(arrived, message="the stream subscribed")
    time.sleep(0.5)
    while not received.empty():
        received.get()

    # When another hub, on another database of the same Redis server, publishes a job, then this one
    own_db = settings.EVENTSTREAM_REDIS.get("db", 0)
    settings.EVENTSTREAM_REDIS = {**settings.EVENTSTREAM_REDIS, "db": own_db + 1}
    publish("job", {"id": "the-other-hubs-job"})
    settings.EVENTSTREAM_REDIS = {**settings.EVENTSTREAM_REDIS, "db": own_db}
    publish("job", {"id": "this-hubs-job"})

    # Then only this hub's job reaches the stream (pub/sub keeps order: the other came first)
    seen = []
    next_event(received, "job", lambda job: seen.append(job["id"]) or job["id"] == "this-hubs-job")
    assert seen == ["this-hubs-job"], seen


def test_a_retry_waiting_for_its_countdown_counts_as_scheduled(broker, fake_jira, start_worker):
    # Given a worker whose Jira answers 429 with a long Retry-After
    from notifications import hot

    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    fake_jira.fail_next(1, 429, on="create", Retry_After="3")
    start_worker(HUB_TEST_JIRA_URL=fake_jira.url)

    # When a refund needs a ticket
    assert run_publisher("prod", REFUND.encode()).returncode == 0

    # Then the create is scheduled (not active, not waiting) until its countdown is over, then done
    def jira_create():
        return next(q for q in hot.queue_depths() if q["name"] == "jira:create")

    assert wait_for(lambda: jira_create()["scheduled"] == 1, message="a scheduled retry")
    assert jira_create()["active"] == 0
    wait_for(
        lambda: fake_jira.summaries == ["Order 4242 refunded in prod"], message="the ticket, after the pause"
    )
    wait_for(lambda: jira_create()["scheduled"] == 0, message="nothing left scheduled")


def test_a_job_is_held_only_once_its_worker_is_gone_not_while_it_works(
    broker, fake_jira, start_worker, settings
):
    # Given a worker whose Jira takes 8 s to answer a create, twice as long as HUB_WORKER_TTL
    # here (Celery's own heartbeat is silent meanwhile: the solo pool is busy with the call)
    from notifications import hot

    settings.HUB_WORKER_TTL = 4
    call_command("import_rules", str(EXAMPLES / "rules.yaml"))
    fake_jira.slow_next(2, 8.0)
    worker = start_worker(HUB_TEST_JIRA_URL=fake_jira.url, HUB_TEST_JIRA_TIMEOUT="20")

    def jira_create():
        return next(q for q in hot.queue_depths() if q["name"] == "jira:create")

    # When a refund needs a ticket and its create has been under way for longer than HUB_WORKER_TTL
    assert run_publisher("prod", REFUND.encode()).returncode == 0
    wait_for(lambda: jira_create()["active"] == 1, message="the create under way")
    time.sleep(settings.HUB_WORKER_TTL + 1)

    # Then the worker is known to be alive, and nothing is held
    assert (jira_create()["active"], jira_create()["held"]) == (1, 0)

    # When the worker is killed (SIGKILL) in the middle of that call
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    killed = time.time()

    # Then once it has been silent past HUB_WORKER_TTL, its job shows as held, since it began
    state = wait_for(lambda: jira_create()["held"] == 1 and jira_create(), timeout=30,
                     message="the create held by a stopped worker")  # fmt: skip
    assert state["held_since"] < killed
