"""Redacting what an older hub stored in clear: event payloads (it redacted only top-level columns,
and only when rendering) and error records' raw input (kept as received). What the hub stores now
is redacted before it is written; this is for the records from before, run once after upgrading
(`manage.py redact_records`). Raw input that does not parse stays, for operators only."""

from typing import Any

from django.db import transaction

from cdc_publisher.exactjson import loads
from notifications.fields import exact_json
from notifications.models import ErrorLog, Event, Source
from rules.matching import load_rule_index
from rules.redaction import Redactor


def payload_redactors() -> dict[str, Redactor]:
    """The redaction of each source's events (HUB_REDACT_NAMES and its rules' paths)."""
    return {source: load_rule_index(source)[0].redactor for source in (Source.CDC, Source.OSS)}


def redacted_payload(event: Event, redactors: dict[str, Redactor]) -> Any:
    """An event's payload as the templates saw it. Events are stored redacted; this also covers
    one stored before a rule named a path, or by a hub that did not redact at every depth."""
    if not isinstance(event.payload, dict):
        return event.payload
    return redactors.get(event.source, redactors[Source.CDC]).event(event.payload)


def redact_stored_records(*, batch: int = 1000, dry_run: bool = False) -> dict[str, int]:
    """Redact every stored event and error record that still holds a secret; returns how many of
    each changed (or would). In batches of ``batch`` rows by id, each its own transaction."""
    redactors = payload_redactors()
    changed = {"events": 0, "errors": 0}
    last = 0
    while rows := list(
        Event.objects.filter(pk__gt=last).order_by("pk").only("pk", "source", "payload")[:batch]
    ):
        last = rows[-1].pk
        redacted = [
            (row.pk, clean) for row in rows if (clean := redacted_payload(row, redactors)) != row.payload
        ]
        changed["events"] += len(redacted)
        if not dry_run:
            with transaction.atomic():
                for pk, clean in redacted:
                    Event.objects.filter(pk=pk).update(payload=clean)
    last = 0
    while rows := list(ErrorLog.objects.filter(pk__gt=last).exclude(raw="").order_by("pk")[:batch]):
        last = rows[-1].pk
        updates = []
        for row in rows:
            try:
                clean = exact_json(redactors[Source.CDC].anything(loads(row.raw)))
            except Exception:  # noqa: BLE001 - does not parse: operators only, as it is
                clean = None
            if clean is None and row.raw_redacted:
                updates.append((row.pk, row.raw, False))
            elif clean is not None and (clean != row.raw or not row.raw_redacted):
                updates.append((row.pk, clean, True))
        changed["errors"] += len(updates)
        if not dry_run:
            with transaction.atomic():
                for pk, raw, redacted in updates:
                    ErrorLog.objects.filter(pk=pk).update(raw=raw, raw_redacted=redacted)
    return changed
