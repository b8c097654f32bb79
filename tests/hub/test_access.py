import os
import secrets
import subprocess
import sys

import pytest
from django.contrib.auth.models import Group, User

from notifications.models import JobFailure
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


def person(client, role: str):
    user = User.objects.create_user(role, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return client


@pytest.fixture
def failure():
    return JobFailure.objects.create(task_name="jira_bridge.create_ticket")


def test_viewers_look_but_cannot_replay_or_edit_rules(client, failure):
    viewer = person(client, "viewers")
    page = viewer.get("/admin/notifications/jobfailure/")
    assert page.status_code == 200
    assert "replay_dead_letters" not in page.content.decode(), "the replay action must not be offered"
    viewer.post(
        "/admin/notifications/jobfailure/",
        {"action": "replay_dead_letters", "_selected_action": [failure.pk]},
    )
    assert JobFailure.objects.get().state == "failed"
    assert viewer.get("/admin/rules/rule/add/").status_code == 403
    assert viewer.get("/admin/rules/rule/").status_code == 200


def test_operators_may_replay_and_edit_rules(client, failure):
    operator = person(client, "operators")
    assert "replay_dead_letters" in operator.get("/admin/notifications/jobfailure/").content.decode()
    assert operator.get("/admin/rules/rule/add/").status_code == 200
    assert operator.get("/admin/rules/silence/add/").status_code == 200


def test_the_deploy_check_is_clean_under_production_settings():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_HTTPS": "true",
        "DJANGO_ALLOWED_HOSTS": "hub.example.com",
        "JIRA_URL": "https://example.atlassian.net",
        "JIRA_USER": "bot",
        "JIRA_API_TOKEN": "t",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_flower_as_the_procfile_starts_it_needs_the_login_from_the_environment(start_process):
    import requests

    from tests.conftest import free_port, wait_for

    port = str(free_port())
    start_process("flower", "Visit me at", FLOWER_PORT=port, FLOWER_BASIC_AUTH="ops:a-long-secret")
    url = f"http://127.0.0.1:{port}/workers"

    def answer(**kwargs):
        try:
            return requests.get(url, timeout=5, **kwargs).status_code
        except requests.ConnectionError:
            return None

    assert wait_for(lambda: answer(), timeout=30, message="flower answering") == 401
    assert answer(auth=("ops", "wrong")) == 401
    assert answer(auth=("ops", "a-long-secret")) == 200
