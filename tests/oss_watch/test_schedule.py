import json

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from oss_watch.models import WatchedBucket

pytestmark = pytest.mark.django_db


def test_a_watch_keeps_its_beat_schedule_in_step(tmp_path):
    # When a watch is added
    watched = WatchedBucket.objects.create(
        environment="dev", endpoint=f"file://{tmp_path}", bucket="b", interval=30
    )

    # Then beat sends a check through scheduler:oss-check every 30 s, expiring if not taken in time
    task = PeriodicTask.objects.get(name=f"oss-check-{watched.pk}")
    assert (task.task, json.loads(task.args), task.queue) == (
        "oss_watch.check_bucket",
        [watched.pk],
        "scheduler:oss-check",
    )
    assert (task.interval.every, task.interval.period, task.expire_seconds, task.enabled) == (
        30,
        "seconds",
        30,
        True,
    )

    # and follows its changes, and its removal
    watched.interval, watched.enabled = 120, False
    watched.save()
    task.refresh_from_db()
    assert (task.interval.every, task.expire_seconds, task.enabled) == (120, 120, False)
    watched.delete()
    assert not PeriodicTask.objects.filter(name=f"oss-check-{watched.pk}").exists()


def test_watch_bucket_adds_lists_checks_and_removes(tmp_path, capsys, broker):
    (tmp_path / "a.txt").write_text("x")
    where = ["--env", "dev", "--endpoint", f"file://{tmp_path}", "--bucket", "local"]

    call_command("watch_bucket", *where, "--interval", "60")
    assert capsys.readouterr().out.startswith("added dev: local/ (id ")
    call_command("watch_bucket", "--list")
    assert "every 60s\tenabled\t0 objects\tok" in capsys.readouterr().out
    call_command("watch_bucket", *where, "--check-now")
    assert capsys.readouterr().out.strip().endswith("baseline: 1 objects recorded, no events")
    (tmp_path / "b.txt").write_text("y")
    call_command("watch_bucket", *where, "--check-now")
    assert capsys.readouterr().out.strip().endswith("2 listed, 1 created, 0 modified, 0 deleted")
    call_command("watch_bucket", *where, "--remove")
    assert WatchedBucket.objects.count() == 0


def test_an_oss_watch_needs_credential_variable_names_and_nothing_is_half_made(capsys):
    with pytest.raises(CommandError, match="--access-key-env and --secret-key-env"):
        call_command(
            "watch_bucket", "--env", "prod", "--endpoint", "https://oss.example.com", "--bucket", "b"
        )
    assert WatchedBucket.objects.count() == 0
