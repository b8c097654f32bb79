import pytest
from django.contrib import admin
from django.urls import reverse

from hub.celery import app

pytestmark = pytest.mark.django_db


def test_health_is_public_and_says_what_is_up(client, broker):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "database": True,
        "redis": True,
        "broker": True,
        "workers": 0,
    }


def test_health_counts_the_workers_that_sent_a_heartbeat(client, start_worker):
    from tests.conftest import wait_for

    start_worker()
    body = wait_for(
        lambda: (b := client.get("/health").json())["workers"] and b, timeout=30, message="heartbeat"
    )
    assert body["status"] == "ok" and body["workers"] == 1


@pytest.mark.parametrize("url", ["/", "/admin/", "/admin/rules/rule/", "/admin/notifications/errorlog/"])
def test_every_other_page_needs_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_every_admin_list_and_add_page_renders(admin_client):
    for model, model_admin in admin.site._registry.items():
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        changelist = admin_client.get(reverse(f"admin:{info}_changelist"))
        assert changelist.status_code == 200, info
        add = admin_client.get(reverse(f"admin:{info}_add"))
        assert add.status_code == (200 if model_admin.has_add_permission(add.wsgi_request) else 403), info


def test_records_are_read_only_in_the_admin(admin_client):
    assert admin_client.get("/admin/notifications/errorlog/add/").status_code == 403
    assert admin_client.get("/admin/jira_bridge/ticketrequest/add/").status_code == 403


def test_a_rule_saved_in_the_admin_is_validated_like_the_rule_file(admin_client):
    form = {
        "name": "r1",
        "enabled": "on",
        "source": "cdc",
        "environments": '["qa"]',
        "match": '{"table": "orders", "where": {"data.status": {"eq": 1}}}',
        "project": "OPS",
        "issue_type": "Task",
        "summary": "{% if %}",
        "description": "",
        "labels": "[]",
        "priority": "",
        "group_by": "[]",
        "group_window": "",
        "redact": "[]",
    }
    response = admin_client.post("/admin/rules/rule/add/", form)
    assert response.status_code == 200, "the form is shown again with errors"
    text = response.content.decode()
    for problem in (
        "environments: unknown environment",
        "match.where.data.status.eq: unknown condition",
        "ticket.summary: template does not compile",
    ):
        assert problem in text, problem

    good = {**form, "environments": '["prod"]', "match": '{"table": "orders"}', "summary": "x {{ data.id }}"}
    assert admin_client.post("/admin/rules/rule/add/", good).status_code == 302


def test_the_queues_are_declared_and_routed():
    assert sorted(q.name for q in app.conf.task_queues) == sorted(
        [
            "cdc:dev",
            "cdc:staging",
            "cdc:prod",
            "oss:events",
            "jira:create",
            "jira:retry",
            "scheduler:oss-check",
            "scheduler:maintenance",
        ]
    )
    assert app.amqp.router.route({}, "jira_bridge.create_ticket")["queue"].name == "jira:create"
    assert app.amqp.router.route({}, "notifications.prune")["queue"].name == "scheduler:maintenance"


def test_the_admin_links_flower(admin_client, settings):
    settings.FLOWER_URL = "http://flower.internal:5555/"
    assert '<a href="http://flower.internal:5555/">Flower</a>' in admin_client.get("/admin/").content.decode()


def test_the_link_in_digest_comments_lists_a_tickets_events(admin_client):
    response = admin_client.get("/admin/notifications/event/?ticket_requests__id__exact=1")
    assert response.status_code == 200, "the admin must allow the lookup the ticket comments link to"


def test_metrics_need_a_token_or_a_staff_login(client, admin_client, settings, broker):
    settings.HUB_METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200
    assert admin_client.get("/metrics").status_code == 200


def test_metrics_report_events_tickets_queues_and_the_bridge(admin_client, broker):
    from jira_bridge.models import TicketRequest
    from notifications.models import DailyStat, JobFailure
    from notifications.records import bump_daily_stats

    bump_daily_stats(
        {("prod", "cdc", ""): {"events": 7, "duplicates": 2}, ("prod", "cdc", "r"): {"tickets": 3}}
    )
    request = TicketRequest.objects.create(
        key="k1", rule_name="refunds", environment="prod", state="failed", fields={"summary": "Refund"}
    )
    JobFailure.objects.create(task_name="jira_bridge.create_ticket", ticket_request=request)
    JobFailure.objects.create(task_name="t")  # about neither a ticket request nor a batch: in no kind
    broker.lpush("cdc:prod", "x", "y")
    assert DailyStat.objects.count() == 2

    text = admin_client.get("/metrics").content.decode()

    for line in (
        'hub_events_total{environment="prod",source="cdc"} 7.0',
        'hub_tickets_total{environment="prod",source="cdc"} 3.0',
        'hub_duplicates_total{environment="prod",source="cdc"} 2.0',
        'hub_queue_depth{queue="cdc:prod"} 2.0',
        'hub_dead_letters{kind="ticket_request"} 1.0',
        'hub_dead_letters{kind="batch"} 0.0',
        "hub_jira_breaker_state 0.0",
    ):
        assert line in text, line
