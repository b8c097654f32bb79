import base64
import json

import pytest
from django.core.management import call_command

from jira_bridge.models import TicketRequest
from notifications.models import AuditEntry, JobFailure
from receivers.jira import JiraReceiver
from tests.jira_bridge.conftest import run_until_settled

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_dead_letters(fake_jira, jira_client, make_bridge, make_request, settings):
    """One request whose create was unclear and in fact made (then gave up), one never made."""
    settings.JIRA_MAX_ATTEMPTS = 1
    settings.JIRA_RECONCILE_WINDOW = 0
    fake_jira.search_lag = 60  # the made one stays invisible to search until the test says
    bridge = make_bridge(jira_client)
    made, missing = make_request(), make_request()
    fake_jira.cut_next(1)
    bridge.create(made)  # created in Jira, answer lost: ambiguous
    bridge.create(made)  # searched, not visible, window over, out of attempts: failed
    refused = make_bridge(JiraReceiver("http://127.0.0.1:9", "hub-bot", "t", timeout=1))  # nothing on port 9
    refused.create(missing)  # never reached Jira, out of attempts: failed
    fake_jira.search_lag = 0
    assert TicketRequest.objects.filter(state="failed").count() == 2
    return made, missing


def test_a_dry_run_says_what_would_happen_and_changes_nothing(two_dead_letters, broker, capsys):
    call_command("replay_dead_letters", "--dry-run")
    out = capsys.readouterr().out.strip()
    assert out == "dry run: 2 dead letters: 2 would be created (1 looked for in Jira first), 0 already exist"
    assert JobFailure.objects.filter(state="failed").count() == 2
    assert broker.llen("jira:create") == 0


def test_replay_creates_only_what_is_missing(
    two_dead_letters, fake_jira, make_bridge, jira_client, broker, capsys, django_capture_on_commit_callbacks
):
    made, missing = two_dead_letters

    with django_capture_on_commit_callbacks(execute=True):
        call_command("replay_dead_letters")

    assert (
        capsys.readouterr().out.strip()
        == "2 dead letters: 2 would be created (1 looked for in Jira first), 0 already exist"
    )
    queued = sorted(
        json.loads(base64.b64decode(json.loads(m)["body"]))[0][0] for m in broker.lrange("jira:create", 0, -1)
    )
    assert queued == sorted([made, missing])
    bridge = make_bridge(jira_client)
    for request_id in (made, missing):
        run_until_settled(bridge.create, request_id)
    assert fake_jira.summaries == ["Order 7 refunded in prod"] * 2, "one ticket each, the made one not again"
    assert len(fake_jira.creates()) == 2, "the made one was found by its marker, not created again"
    assert set(JobFailure.objects.values_list("state", flat=True)) == {"replayed"}
    assert (
        AuditEntry.objects.filter(
            action=AuditEntry.TICKET_REPLAYED, actor="manage.py replay_dead_letters"
        ).count()
        == 2
    )


def test_replay_filters_by_rule_environment_and_id(two_dead_letters, capsys):
    call_command("replay_dead_letters", "--dry-run", "--rule", "other-rule")
    assert capsys.readouterr().out.strip() == "dry run: 0 dead letters: 0 would be created, 0 already exist"
    call_command(
        "replay_dead_letters", "--dry-run", "--env", "prod", "--id", str(JobFailure.objects.first().pk)
    )
    assert capsys.readouterr().out.strip().startswith("dry run: 1 dead letters")


def test_a_dead_letter_whose_ticket_exists_is_resolved_not_replayed(two_dead_letters, capsys):
    made, _ = two_dead_letters
    TicketRequest.objects.filter(pk=made).update(state="created", jira_key="OPS-1")
    call_command("replay_dead_letters", "--id", str(JobFailure.objects.get(ticket_request_id=made).pk))
    assert capsys.readouterr().out.strip() == "1 dead letters: 0 would be created, 1 already exist"
    assert JobFailure.objects.get(ticket_request_id=made).state == "resolved"


def test_operators_replay_from_the_admin(
    two_dead_letters, admin_client, broker, django_capture_on_commit_callbacks
):
    ids = list(JobFailure.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/notifications/jobfailure/", {"action": "replay_dead_letters", "_selected_action": ids}
        )
    assert response.status_code == 302
    assert "Replayed: 2 would be created" in admin_client.get(response["Location"]).content.decode()
    assert broker.llen("jira:create") == 2
    assert AuditEntry.objects.filter(action=AuditEntry.TICKET_REPLAYED, actor="admin").count() == 2
