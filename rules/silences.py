"""Applying silences to a batch: which matches are held back, and how many each silence held."""

from collections import Counter

from django.db.models import F
from django.utils import timezone

from notifications.models import Event
from rules.models import Silence


class Silencer:
    def __init__(self, silences: list[Silence]) -> None:
        self.silences = silences
        self.held: Counter[int] = Counter()

    @classmethod
    def load(cls) -> "Silencer":
        return cls(list(Silence.objects.filter(enabled=True)))

    def find(self, rule_id: int, environment: str, event: Event) -> Silence | None:
        """The silence holding back this rule's ticket for this event (judged at the time the
        event happened, so a late delivery of a maintenance window's changes stays silent)."""
        at = event.occurred_at or timezone.now()
        for silence in self.silences:
            if silence.covers(rule_id, environment, event.database, event.table, at):
                self.held[silence.pk] += 1
                return silence
        return None

    def save_counts(self) -> None:
        for pk, count in self.held.items():
            Silence.objects.filter(pk=pk).update(silenced_events=F("silenced_events") + count)
