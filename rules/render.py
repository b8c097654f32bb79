"""Rendering ticket fields from a rule's templates, in the sandbox (rules/sandbox.py), from events
already redacted (rules/redaction.py)."""

from typing import Any

from django.template import Template

from rules.sandbox import ENGINE, OverBound, render_bounded


class TemplateFailure(Exception):
    """A template that compiled but failed while rendering one event."""


class RenderBoundExceeded(TemplateFailure):
    """A render stopped at a bound of the sandbox (rules/sandbox.py): its output size, its time, or
    a filter's width or size. The message names the bound and its value. The rule is likely to
    pass it again on the next event."""


def compile_template(text: str) -> Template:
    """A rule's template compiled in the sandbox (rules/sandbox.py); raises TemplateSyntaxError
    naming what it refuses."""
    return ENGINE.from_string(text)


def render_text(template: Template, context: dict[str, Any]) -> str:
    """The template's text for one event, rendered within the sandbox's bounds; raises
    RenderBoundExceeded for a bound passed, TemplateFailure for any other error."""
    try:
        return render_bounded(template, context)
    except OverBound as exc:
        raise RenderBoundExceeded(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - any failure in a user's template is that rule's error
        raise TemplateFailure(f"{type(exc).__name__}: {exc}") from exc
