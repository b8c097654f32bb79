"""The outbox's tickets move from jira_bridge to the outbox receiver's app: rows written before
the move are the new model's, keys and all."""

import pytest

from tests.migrations import latest_schema_afterwards, migrate  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("latest_schema_afterwards")]


def test_outbox_tickets_written_before_the_move_are_kept():
    # Given an outbox ticket as jira_bridge kept it
    old = migrate([("jira_bridge", "0005_next_attempt"), ("outbox", None)])
    ticket = old.get_model("jira_bridge", "OutboxTicket").objects.create(
        fields={"summary": "s", "labels": ["hub-abc"]}, comments=["c"]
    )

    # When the move runs
    new = migrate([("jira_bridge", "0006_outbox_ticket_moves_to_the_outbox_app")])

    # Then it is the outbox's, unchanged, and jira_bridge holds the model no more
    moved = new.get_model("outbox", "OutboxTicket").objects.get()
    assert (moved.pk, moved.fields, moved.comments) == (
        ticket.pk,
        {"summary": "s", "labels": ["hub-abc"]},
        ["c"],
    )
    with pytest.raises(LookupError):
        new.get_model("jira_bridge", "OutboxTicket")
