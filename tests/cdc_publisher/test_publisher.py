import signal
import subprocess
import sys

import pytest
from django.conf import settings

from cdc_publisher.contract import BATCH_TASK
from cdc_publisher.publisher import Publisher
from tests.brokers import depth, peek
from tests.conftest import FIXTURES, ROOT, publisher_env, run_publisher, wait_for


def broker_batches(url: str = "", queue: str = "cdc:prod") -> list[dict]:
    """The batches waiting on a queue of the broker at ``url`` (default: the tests'), oldest first,
    decoded from Celery's message envelope and left where they are."""
    batches = []
    for message in peek(url or settings.CELERY_BROKER_URL, queue):
        assert message["headers"]["task"] == BATCH_TASK
        args, _kwargs, _embed = message["body"]
        batches.append(args[0])
    return batches


def test_it_batches_many_events_per_message(capsys):
    # Given a publisher with a batch size of 4 and a sender that keeps what it is given
    sent = []
    publisher = Publisher("prod", sent.append, batch_size=4, origin="test")
    lines = (FIXTURES / "maxwell" / "bootstrap.jsonl").read_bytes().splitlines() * 3

    # When 12 lines are fed and the rest flushed
    for n, line in enumerate(lines, start=1):
        publisher.feed(n, line)
    publisher.flush()

    # Then 3 messages carry them, line numbers kept
    assert [len(b["events"]) for b in sent] == [4, 4, 4]
    assert [n for b in sent for n, _ in b["events"]] == list(range(1, 13))
    assert publisher.stats.summary() == "read 12 lines: 12 events published in 3 batches, 0 rejected"


def test_it_sends_broken_lines_as_rejects_and_reports_them(capsys):
    sent = []
    publisher = Publisher("prod", sent.append, origin="test")
    for n, line in enumerate((FIXTURES / "maxwell" / "broken.jsonl").read_bytes().splitlines(), start=1):
        publisher.feed(n, line)
    publisher.flush()

    (batch,) = sent
    assert batch["events"] == []
    assert [n for n, _raw, _reason in batch["rejects"]] == list(range(1, 10))
    assert (
        batch["rejects"][8][1] == '{"database":"shop","table":"t","type":"insert","data":{"name":"caf\\xe9"}}'
    )
    assert "line 6 rejected: unknown type 'upsert'" in capsys.readouterr().err


@pytest.mark.brokers
def test_the_command_publishes_to_the_environment_queue_and_prints_a_summary(broker):
    lines = (FIXTURES / "maxwell" / "update.jsonl").read_bytes() + b"not json\n"
    result = run_publisher("staging", lines)

    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr.decode().splitlines()[-1] == (
        "cdc_publisher: read 3 lines: 2 events published in 1 batches, 1 rejected"
    )
    (batch,) = broker_batches(queue="cdc:staging")
    assert batch["env"] == "staging"
    assert [n for n, _ in batch["events"]] == [1, 2]
    assert batch["rejects"][0][0] == 3 and batch["rejects"][0][1] == "not json"


@pytest.mark.brokers
def test_an_unknown_environment_refuses_to_start(broker):
    result = run_publisher("qa", b"")
    assert result.returncode == 2
    assert "unknown environment 'qa'; expected one of dev, staging, prod" in result.stderr.decode()
    assert depth(settings.CELERY_BROKER_URL, "cdc:qa") == 0, "nothing may be published for it"


def test_a_broker_the_hub_does_not_run_on_refuses_to_start_without_showing_the_url(broker):
    # Given a broker URL of a kind the hub does not support, with a password in it
    result = run_publisher("prod", b"", CELERY_BROKER_URL="sqs://key:s3cret@sqs.example.com/")

    # Then the publisher refuses to start, says why, and does not print the password
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert "--broker-url: broker URL scheme sqs:// is not supported" in err, err
    assert "s3cret" not in err


@pytest.mark.brokers
def test_a_partial_batch_is_sent_while_input_stays_open(broker):
    # Given a publisher whose input is still open (Maxwell keeps running)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdc_publisher", "--env", "prod", "--flush-interval", "0.2"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=publisher_env(),
    )
    try:
        # When two lines arrive and nothing more
        proc.stdin.write((FIXTURES / "maxwell" / "update.jsonl").read_bytes())
        proc.stdin.flush()

        # Then they are published without waiting for a full batch or the end of input
        batches = wait_for(broker_batches, timeout=30, message="idle flush")
        assert [n for n, _ in batches[0]["events"]] == [1, 2]

        # and SIGTERM ends it cleanly, with its summary
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert (
            err.decode()
            .splitlines()[-1]
            .endswith("read 2 lines: 2 events published in 1 batches, 0 rejected")
        )
    finally:
        proc.kill()


WITHOUT_THE_HUB = """
import runpy, sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"django", "psycopg", "hub", "notifications", "rules", "jira_bridge"}:
            raise ImportError(f"{name} is not installed on an environment machine")
sys.meta_path.insert(0, Blocked())
sys.argv = ["cdc_publisher", "--env", "prod"]
runpy.run_module("cdc_publisher", run_name="__main__")
"""


@pytest.mark.brokers
def test_the_publisher_works_where_neither_django_nor_the_hub_is_installed(broker):
    # Given an interpreter in which Django, psycopg and the hub's apps cannot be imported
    command = [sys.executable, "-c", WITHOUT_THE_HUB]
    env = publisher_env()

    # When it publishes two lines
    lines = (FIXTURES / "maxwell" / "update.jsonl").read_bytes()
    result = subprocess.run(command, input=lines, capture_output=True, cwd=ROOT, env=env, timeout=60)

    # Then they arrive on the broker
    assert result.returncode == 0, result.stderr.decode()
    assert [n for n, _ in broker_batches()[0]["events"]] == [1, 2]


@pytest.mark.brokers
def test_a_batch_is_described_briefly_for_results_and_flower(broker):
    run_publisher("prod", (FIXTURES / "maxwell" / "update.jsonl").read_bytes() + b"oops\n")
    (message,) = peek(settings.CELERY_BROKER_URL, "cdc:prod")
    argsrepr = message["headers"]["argsrepr"]
    assert argsrepr.startswith("[prod batch from ") and argsrepr.endswith(
        ": lines 1-3, 2 events, 1 rejected]"
    )
