"""Secrets out of everything the hub keeps or sends: the values of sensitive keys, at any depth of
an event's ``data`` and ``old`` (inside JSON columns and their arrays too), become ``[redacted]``
before an event is stored, rendered, sent or kept in a failure record.

A key is sensitive when a name of HUB_REDACT_NAMES is inside it (any case), when a rule's
``redact`` names it bare (``card_number``: that key at any depth), or when it is at a path a rule
names (``data.card_number``: that column; ``data.profile.api_key``: that key of that JSON column,
in ``old`` as in ``data``, through arrays). Every rule's paths apply to every event of its source:
a path one rule calls secret is secret in the records, whichever rule reads them.
"""

from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
ROW_PARTS = ("data", "old")


class Redactor:
    def __init__(self, names: Iterable[str], paths: Iterable[str] = ()) -> None:
        self.needles = tuple(sorted({n.lower() for n in names if n}))
        self.bare: set[str] = set()
        self.paths: set[tuple[str, ...]] = set()
        for path in paths:
            parts = tuple(path.split("."))
            if parts[0] in ROW_PARTS and len(parts) > 1:
                self.paths.add(parts[1:])
            else:
                self.bare.add(path)

    def is_secret(self, key: str, path: tuple[str, ...] | None) -> bool:
        if key in self.bare or (path is not None and path in self.paths):
            return True
        lowered = key.lower()
        return any(needle in lowered for needle in self.needles)

    def value(self, value: Any, path: tuple[str, ...] | None = ()) -> Any:
        """A copy of ``value`` with every sensitive key's value replaced, at any depth. ``path``
        is where ``value`` sits below ``data``/``old`` (None: not under a row, paths never apply)."""
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                here = (*path, key) if path is not None and self.paths else path
                out[key] = REDACTED if self.is_secret(str(key), here) else self.value(item, here)
            return out
        if isinstance(value, list):
            return [self.value(item, path) for item in value]
        return value

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        """A change event with its row values redacted, and the primary key values of secret
        columns (Maxwell's ``primary_key``, the names in ``primary_key_columns`` or else found by
        value among the redacted columns). The rest of its envelope (names, positions, types) is
        the hub's to read and is left as it is."""
        rows = {part: event[part] for part in ROW_PARTS if isinstance(event.get(part), dict)}
        if not rows:
            return event
        redacted = {part: self.value(row) for part, row in rows.items()}
        out = {**event, **redacted}
        if isinstance(event.get("primary_key"), list):
            out["primary_key"] = self.primary_key(event, rows.get("data", {}), redacted.get("data", {}))
        return out

    def primary_key(self, event: dict[str, Any], data: dict[str, Any], redacted: dict[str, Any]) -> list:
        key, columns = event["primary_key"], event.get("primary_key_columns")
        if isinstance(columns, list) and len(columns) == len(key):
            return [
                REDACTED if self.is_secret(str(c), (str(c),)) else v
                for c, v in zip(columns, key, strict=True)
            ]
        hidden = [data[c] for c in data if redacted.get(c) == REDACTED and data[c] != REDACTED]
        return [REDACTED if v in hidden else v for v in key]

    def anything(self, value: Any) -> Any:
        """Input that is not a valid event (a rejected line that still parses): every key, from the
        top, is judged by name, and a ``data`` or ``old`` object as an event's would be."""
        if not isinstance(value, dict):
            return self.value(value, None)
        rows = {part: value[part] for part in ROW_PARTS if isinstance(value.get(part), dict)}
        rest = self.value({k: v for k, v in value.items() if k not in rows}, None)
        redacted = self.event(
            {**rows, "primary_key": value["primary_key"]} if "primary_key" in value else rows
        )
        return {k: redacted.get(k, rest.get(k)) for k in value}
