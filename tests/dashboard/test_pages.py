"""The live page, the job and ticket inspectors and the error viewer, rendered by Django against
real PostgreSQL and Redis; replay from them for operators only."""

import datetime as dt
import html
import re
import time

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from jira_bridge.models import TicketRequest
from notifications import hot
from notifications.models import DailyStat, ErrorLog, Event, JobFailure

pytestmark = pytest.mark.django_db

PAGES = ["/", "/live/", "/jobs/x/", "/tickets/1/", "/errors/"]


def person(role: str) -> Client:
    client = Client()
    client.force_login(person_user(role))
    return client


@pytest.mark.parametrize("url", PAGES)
def test_each_page_needs_a_staff_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_a_non_staff_login_is_sent_to_the_login_page_too(client):
    client.force_login(User.objects.create_user("outsider", password="pw"))
    assert client.get("/live/").status_code == 302


def test_the_live_page_starts_from_redis_and_postgresql(broker):
    hot.job_finished({"id": "j1", "name": "cdc.process_batch", "queue": "cdc:prod", "failed": False,
                      "state": "SUCCESS", "finished": 1.0, "result": {"events": 3}})  # fmt: skip
    ErrorLog.objects.create(kind="bad_input", source="cdc", environment="dev", message="not JSON <script>")
    page = person("viewers").get("/live/").content.decode()
    assert 'id="hub-initial"' in page and '"id": "j1"' in page, "the recent job, from Redis"
    assert "not JSON \\u003Cscript\\u003E" in page, "errors escaped inside the page's JSON"
    assert "/live/events/" in page


def refund_ticket() -> TicketRequest:
    event = Event.objects.create(
        environment="prod", event_id="e1", database="shop", table="orders", type="update", outcome="matched",
        payload={"data": {"id": 7, "card_number": "4111111111111111"}, "old": {"status": "paid"}},
    )  # fmt: skip
    request = TicketRequest.objects.create(
        key="k1", rule_name="refunds", environment="prod", state="failed", attempts=2,
        fields={"summary": "Order 7 refunded"},
    )  # fmt: skip
    for outcome in ("transient", "permanent"):
        request.tries.create(outcome=outcome, status=503, error="Service Unavailable", duration_ms=41)
    request.events.add(event)
    return request


def test_the_ticket_page_shows_the_event_redacted_and_every_attempt(broker):
    request = refund_ticket()
    JobFailure.objects.create(task_name="jira_bridge.create_ticket", ticket_request=request,
                              payload={"request_id": request.pk, "rule": "refunds"})  # fmt: skip
    page = person("viewers").get(f"/tickets/{request.pk}/").content.decode()
    assert "Order 7 refunded" in page
    assert "4111111111111111" not in page and "[redacted]" in page, "redacted, even an event stored before"
    assert page.count("Service Unavailable") == 2, "both attempts"
    assert 'value="Replay"' not in page, "no replay button for a viewer"


def test_an_operator_replays_from_the_error_viewer_and_a_viewer_cannot(
    broker, django_capture_on_commit_callbacks
):
    request = refund_ticket()
    failure = JobFailure.objects.create(
        task_name="jira_bridge.create_ticket", queue="jira:create", environment="prod",
        ticket_request=request, payload={"request_id": request.pk, "rule": "refunds"},
    )  # fmt: skip
    viewer, operator = person("viewers"), person("operators")
    assert 'value="Replay"' not in viewer.get("/errors/").content.decode()
    assert viewer.post(f"/failures/{failure.pk}/replay/").status_code == 403
    assert JobFailure.objects.get().state == "failed"

    assert 'value="Replay"' in operator.get("/errors/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = operator.post(f"/failures/{failure.pk}/replay/", {"next": "https://evil.example/"})
    assert done.status_code == 302 and done["Location"] == "/errors/", "never redirected off the hub"
    assert JobFailure.objects.get().state == "replayed"
    assert TicketRequest.objects.get().state == "reserved"
    assert broker.llen("jira:create") == 1, "sent to be created again"


def test_the_error_viewer_filters_by_environment_source_rule_and_time(broker):
    ErrorLog.objects.create(kind="bad_input", source="cdc", environment="dev", message="dev-line")
    ErrorLog.objects.create(kind="oss", source="oss", environment="prod", message="prod-bucket")
    ErrorLog.objects.create(kind="template", source="rules", environment="prod", message="tmpl-refunds",
                            where="rule refunds, publisher line 3")  # fmt: skip
    viewer = person("viewers")

    def shown(query: str) -> set[str]:
        page = viewer.get(f"/errors/?{query}").content.decode()
        return {m for m in ("dev-line", "prod-bucket", "tmpl-refunds") if m in page}

    assert shown("") == {"dev-line", "prod-bucket", "tmpl-refunds"}
    assert shown("environment=prod") == {"prod-bucket", "tmpl-refunds"}
    assert shown("source=oss") == {"prod-bucket"}
    assert shown("rule=refunds") == {"tmpl-refunds"}
    assert shown("since=2999-01-01") == set()
    assert shown("until=2000-01-01") == set()


def test_a_job_page_comes_from_redis_while_recent(broker):
    hot.job_finished({"id": "j9", "name": "jira_bridge.create_ticket", "queue": "jira:create", "failed": True,
                      "state": "FAILURE", "arg0": 41, "error": "boom", "finished": 1.0})  # fmt: skip
    page = person("viewers").get("/jobs/j9/").content.decode()
    assert "Redis (recent jobs)" in page and "/tickets/41/" in page and "boom" in page
    assert person("operators").get("/jobs/nope/").status_code == 404


def test_a_batch_jobs_page_links_to_the_events_received_while_it_ran(broker):
    Event.objects.create(environment="prod", event_id="in", type="insert", outcome="unmatched", payload={})
    hot.job_finished({"id": "b1", "name": "cdc.process_batch", "queue": "cdc:prod", "failed": False,
                      "state": "SUCCESS", "env": "prod", "started": time.time() - 60,
                      "finished": time.time() + 60})  # fmt: skip
    viewer = person("viewers")
    page = viewer.get("/jobs/b1/").content.decode()
    link = re.search(r'href="(/admin/notifications/event/\?[^"]+)"', page)
    assert link, "a link to the batch's events"
    events = viewer.get(html.unescape(link[1]))
    assert events.status_code == 200 and "1 event" in events.content.decode(), "the admin accepts the filter"


def every_route(patterns=None, prefix: str = ""):
    """Every URL the hub serves, with sample values for its parameters (regex routes skipped)."""
    from django.urls import URLPattern, URLResolver, get_resolver
    from django.urls.resolvers import RoutePattern

    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if not isinstance(entry.pattern, RoutePattern):
            continue
        route = prefix + re.sub(r"<(?:\w+:)?\w+>", "1", str(entry.pattern))
        if isinstance(entry, URLResolver):
            yield from every_route(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield "/" + route


def test_no_route_but_health_answers_an_anonymous_request(client, broker):
    routes = sorted(set(every_route()))
    assert len(routes) > 50 and "/api/tickets" in routes and "/live/events/" in routes, routes
    public = {"/health", "/api/health", "/admin/login/", "/admin/logout/", "/admin/password_reset/",
              "/admin/password_reset/done/", "/admin/reset/1/1/", "/admin/reset/done/", "/admin/jsi18n/",
              "/admin/r/1/1/"}  # fmt: skip
    for route in routes:
        if route in public:
            continue
        status = client.get(route).status_code
        assert status in (302, 401, 403, 404, 405), f"{route} answered {status} without a login"


def test_the_error_viewer_refuses_a_bad_filter_with_its_reason(broker):
    response = person("viewers").get("/errors/?since=2024-02-30")
    assert response.status_code == 400 and "since" in response.content.decode()


def test_the_replay_form_needs_its_csrf_token(broker):
    request = refund_ticket()
    failure = JobFailure.objects.create(
        task_name="jira_bridge.create_ticket", ticket_request=request,
        payload={"request_id": request.pk},
    )  # fmt: skip
    operator = Client(enforce_csrf_checks=True)
    operator.force_login(person_user("operators"))
    assert operator.post(f"/failures/{failure.pk}/replay/").status_code == 403
    assert JobFailure.objects.get().state == "failed", "nothing replayed without the token"


def person_user(role: str) -> User:
    user = User.objects.create_user(role, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def test_the_live_page_shows_earlier_days_from_postgresql(broker):
    day = dt.date.today() - dt.timedelta(days=3)
    DailyStat.objects.create(day=day, environment="staging", source="cdc", events=41, tickets=4)
    DailyStat.objects.create(
        day=dt.date.today() - dt.timedelta(days=30), environment="dev", source="cdc", events=9
    )
    initial = person("viewers").get("/live/").context["initial"]
    assert initial["earlier_days"] == [
        {"day": day.isoformat(), "environment": "staging", "events": 41, "matched": 0, "tickets": 4,
         "failures": 0, "bad_input": 0}
    ], "the last seven days before today, from DailyStat"  # fmt: skip


def test_a_ticket_request_is_found_by_its_ledger_key(broker):
    request = refund_ticket()
    viewer = person("viewers")
    found = viewer.get("/tickets/key/k1/")
    assert found.status_code == 302 and found["Location"] == f"/tickets/{request.pk}/", found
    assert viewer.get("/tickets/key/nope/").status_code == 404


def test_raw_input_that_could_not_be_redacted_is_shown_to_operators_only():
    # Given a rejected line that did not parse (so was kept as it came) and one that was redacted
    ErrorLog.objects.create(kind="bad_input", source="cdc", environment="prod", message="unparsed-line-kept",
                            raw='{"password": "hunter2-raw", oops', raw_redacted=False)  # fmt: skip
    ErrorLog.objects.create(kind="bad_input", source="cdc", environment="prod", message="redacted-line-kept",
                            raw='{"type": "upsert", "password": "[redacted]"}')  # fmt: skip
    hidden = ErrorLog.objects.get(message="unparsed-line-kept")
    viewer, operator = person("viewers"), person("operators")

    # Then a viewer sees that it is hidden, on the error viewer and in the admin, and cannot search it
    page = viewer.get("/errors/").content.decode()
    assert "hunter2-raw" not in page and "it could not be redacted" in page
    assert "upsert" in page, "redacted raw input is shown to everyone"
    detail = viewer.get(f"/admin/notifications/errorlog/{hidden.pk}/change/")
    assert detail.status_code == 200 and "unparsed-line-kept" in detail.content.decode(), (
        "the viewer sees the record"
    )
    assert "hunter2-raw" not in detail.content.decode()
    found = viewer.get("/admin/notifications/errorlog/", {"q": "hunter2-raw"}).content.decode()
    assert "unparsed-line-kept" not in found, "a search of raw input would tell a viewer what it holds"

    # nor probe it with the admin's query string, one guess at a time
    probe = viewer.get("/admin/notifications/errorlog/", {"raw__contains": "hunter2"})
    assert "unparsed-line-kept" not in probe.content.decode(), "a lookup on raw input is refused for viewers"
    # nor read it where a stored batch keeps its rejected lines
    from notifications.models import StoredBatch

    stored = StoredBatch.objects.create(source="cdc", environment="prod", rejects='[{"raw": "hunter2-raw"}]')
    batch_page = viewer.get(f"/admin/notifications/storedbatch/{stored.pk}/change/")
    assert batch_page.status_code == 200 and "hunter2-raw" not in batch_page.content.decode()
    assert (
        "hunter2-raw"
        in operator.get(f"/admin/notifications/storedbatch/{stored.pk}/change/").content.decode()
    )

    # and an operator sees it, there and there
    assert "hunter2-raw" in operator.get("/errors/").content.decode()
    assert (
        "hunter2-raw" in operator.get(f"/admin/notifications/errorlog/{hidden.pk}/change/").content.decode()
    )
    assert (
        "unparsed-line-kept"
        in operator.get("/admin/notifications/errorlog/", {"q": "hunter2-raw"}).content.decode()
    )
    assert (
        "unparsed-line-kept"
        in operator.get("/admin/notifications/errorlog/", {"raw__contains": "hunter2"}).content.decode()
    )
