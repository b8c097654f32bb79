"""The outbox receiver: a ticket becomes an OutboxTicket row, its fields exactly as Jira's."""

from typing import Any

from django.db import transaction

from receivers.jira import PROPERTY_KEY, JiraShaped
from receivers.jira.limits import marker_label
from receivers.outbox.models import OutboxTicket


class OutboxReceiver(JiraShaped):
    kind = name = "outbox"

    @classmethod
    def from_settings(cls) -> "OutboxReceiver":
        return cls()

    def link(self, external_key: str) -> str:
        return ""

    def deliver(self, payload: dict[str, Any]) -> str:
        return OutboxTicket.objects.create(fields=payload).key

    def find(self, key: str) -> str | None:
        ticket = OutboxTicket.objects.filter(fields__labels__contains=[marker_label(key)]).first()
        return ticket.key if ticket else None

    @transaction.atomic
    def add_note(self, external_key: str, title: str, body: str) -> None:
        ticket = OutboxTicket.objects.select_for_update().get(pk=OutboxTicket.pk_of(external_key))
        ticket.comments.append(body)
        ticket.save(update_fields=["comments"])

    @transaction.atomic
    def mark(self, external_key: str, key: str, rule: str) -> None:
        ticket = OutboxTicket.objects.select_for_update().get(pk=OutboxTicket.pk_of(external_key))
        ticket.properties[PROPERTY_KEY] = {"key": key, "rule": rule}
        ticket.save(update_fields=["properties"])
