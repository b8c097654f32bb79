"""Migration 0009: job failures recorded before it point at their ticket request by foreign key,
an old batch failure becomes a stored batch that replays (redacted), and error records written
before raw input was redacted are shown to operators only."""

import json

import pytest

from tests.migrations import latest_schema_afterwards, migrate  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("latest_schema_afterwards")]

BEFORE = [("notifications", "0008_no_backend_cleanup"), ("jira_bridge", "0003_digest_groups")]
AFTER = [("notifications", "0009_failures_point_at_what_they_are_about")]


def test_old_failures_and_error_records_are_carried_over():
    # Given records as the hub wrote them before
    old = migrate(BEFORE)
    request = old.get_model("jira_bridge", "TicketRequest").objects.create(
        key="k", rule_name="r", environment="prod", fields={"summary": "s"}, state="failed"
    )
    Failure = old.get_model("notifications", "JobFailure")
    Failure.objects.create(task_name="jira_bridge.create_ticket", subject=f"ticket_request:{request.pk}")
    line = json.dumps({"database": "shop", "table": "orders", "type": "update", "xid": 1, "ts": 1,
                       "data": {"id": 1, "password": "pw-old"}})  # fmt: skip
    batch = {"v": 1, "env": "prod", "origin": "o", "events": [[1, line], [2, "garbage"]], "rejects": []}
    Failure.objects.create(task_name="cdc.process_batch", subject="cdc batch", payload={"batch": batch})
    old.get_model("notifications", "ErrorLog").objects.create(
        kind="bad_input", source="cdc", message="m", raw='{"password": "pw-raw"}'
    )

    # When the migration runs
    new = migrate(AFTER)

    # Then the dead letter points at its request, and the batch is a stored batch, redacted
    JobFailure = new.get_model("notifications", "JobFailure")
    assert JobFailure.objects.get(task_name="jira_bridge.create_ticket").ticket_request_id == request.pk
    stored = JobFailure.objects.get(task_name="cdc.process_batch").batch
    assert "pw-old" not in stored.events and '"password":"[redacted]"' in stored.events
    assert "line 2 is not a Maxwell event" in stored.rejects
    # and the old error record's raw input, never redacted, is for operators' eyes only
    assert new.get_model("notifications", "ErrorLog").objects.get().raw_redacted is False
