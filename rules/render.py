"""Rendering ticket fields from a rule's templates, with sensitive values redacted first."""

from collections.abc import Iterable
from typing import Any

from django.template import Context, Engine, Template

# Tickets are Jira text, not HTML: no HTML escaping of values.
ENGINE = Engine(autoescape=False)
REDACTED = "[redacted]"
SUMMARY_MAX = 255  # Jira's limit for a summary


class TemplateFailure(Exception):
    """A template that compiled but failed while rendering one event."""


def compile_template(text: str) -> Template:
    return ENGINE.from_string(text)


def redact_columns(row: Any, is_sensitive) -> Any:
    """A copy of a row (``data`` or ``old``) with sensitive columns' values replaced."""
    if not isinstance(row, dict):
        return row
    return {col: (REDACTED if is_sensitive(col) else value) for col, value in row.items()}


def sensitivity(global_names: Iterable[str], rule_paths: Iterable[str]):
    """A predicate for column names: a global name inside it (any case), or named by the rule
    (as ``data.COLUMN``, ``old.COLUMN`` or ``COLUMN``)."""
    needles = tuple(n.lower() for n in global_names if n)
    exact = {p.split(".", 1)[1] if p.startswith(("data.", "old.")) else p for p in rule_paths}

    def is_sensitive(column: str) -> bool:
        lowered = column.lower()
        return column in exact or any(n in lowered for n in needles)

    return is_sensitive


def render_text(template: Template, context: dict[str, Any]) -> str:
    try:
        return template.render(Context(context, autoescape=False))
    except Exception as exc:  # noqa: BLE001 - any failure in a user's template is that rule's error
        raise TemplateFailure(f"{type(exc).__name__}: {exc}") from exc


def one_line(text: str, limit: int = SUMMARY_MAX) -> str:
    """Jira summaries are one line of at most 255 characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
