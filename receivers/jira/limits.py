"""Jira Cloud's limits on a ticket, applied when the Jira receiver prepares a ticket (so that what
the ledger stores is what Jira accepts): a summary is one line of at most 255
characters, a description or a comment at most 32,767, a label neither empty nor holding white
space nor over 255. Jira counts as Java does, in UTF-16 code units (an emoji is two), so these do
too. What can be fixed without guessing is fixed (a summary made one line, a description cut
with a note saying so); what cannot is said by ticket_problems, for the API to refuse, as is a
label that could pass for the hub's marker."""

from collections.abc import Sequence
from typing import Any

from receivers.base import Limits

SUMMARY_MAX = 255
TEXT_MAX = 32_767  # description, comment body
LABEL_MAX = 255
ELLIPSIS = "…"
# The hub's marker labels (marker_label) start so. They find a ticket again after a create
# whose outcome was unclear: a request carrying another request's marker would make that request
# take this ticket for its own. Refused whatever the case, in case a search ignores it.
MARKER_PREFIX = "hub-"


def marker_label(key: str) -> str:
    """The label that finds the issue of the ticket with this key again."""
    return f"{MARKER_PREFIX}{key[:20]}"


def jira_length(text: str) -> int:
    # surrogatepass: a lone surrogate (a "\ud800" escape in YAML or JSON) is one unit, not a crash
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


def cut(text: str, limit: int) -> str:
    """The longest start of ``text`` within ``limit`` UTF-16 units, never half a surrogate pair
    (nor a lone surrogate: they are dropped)."""
    if jira_length(text) <= limit:
        return text
    units = text.encode("utf-16-le", errors="surrogatepass")[: 2 * max(limit, 0)]
    return units.decode("utf-16-le", errors="ignore")  # a lone half, at the end or not, is dropped


def shorten(text: str, limit: int) -> str:
    """``text`` within ``limit``, ending in an ellipsis if it had to be cut."""
    return text if jira_length(text) <= limit else cut(text, limit - 1) + ELLIPSIS


def one_line(text: str) -> str:
    return shorten(" ".join(text.split()), SUMMARY_MAX)


def cut_note(full_text_url: str) -> str:
    return (
        f"\n\n[Cut here: Jira takes at most {TEXT_MAX:,} characters. "
        f"The full description is in the hub: {full_text_url}]"
    )


def fit_fields(fields: dict[str, Any], full_text_url: str) -> tuple[dict[str, Any], str]:
    """The fields within Jira's limits, and the description as it was if it had to be cut (else
    ""). The cut description ends with a note linking to ``full_text_url``."""
    fitted = dict(fields)
    if isinstance(fitted.get("summary"), str):
        fitted["summary"] = one_line(fitted["summary"])
    description = fitted.get("description")
    if not isinstance(description, str) or jira_length(description) <= TEXT_MAX:
        return fitted, ""
    note = cut_note(full_text_url)
    fitted["description"] = cut(description, TEXT_MAX - jira_length(note)) + note
    return fitted, description


def ticket_problems(fields: dict[str, Any]) -> list[str]:
    """What Jira would refuse and fit_fields cannot fix, one reason each."""
    problems = [] if one_line(str(fields.get("summary") or "")) else ["summary: empty (Jira needs one)"]
    return problems + label_problems(fields.get("labels") or [])


def label_problems(labels: Sequence[str]) -> list[str]:
    """What Jira would refuse of these labels, one reason each."""
    problems = []
    for label in labels:
        if not label:
            problems.append("labels: an empty label")
        elif any(ch.isspace() for ch in label):
            problems.append(f"labels: {label[:40]!r} has white space, which Jira labels cannot hold")
        elif jira_length(label) > LABEL_MAX:
            problems.append(f"labels: {label[:40]!r}… is longer than {LABEL_MAX} characters")
        elif label.lower().startswith(MARKER_PREFIX):
            problems.append(
                f"labels: {label[:40]!r} starts with {MARKER_PREFIX!r}, reserved for the hub's markers, "
                "which find a ticket again after an unclear create"
            )
    return problems


class JiraLimits(Limits):
    """Jira's limits, counted as Jira counts (UTF-16 code units)."""

    def length(self, text: str) -> int:
        return jira_length(text)

    def shorten(self, text: str, limit: int) -> str:
        return shorten(text, limit)


JIRA_LIMITS = JiraLimits(title_max=SUMMARY_MAX, text_max=TEXT_MAX)
