"""Jira Cloud's limits on a ticket's fields, as plain functions on data (receivers.jira.limits)."""

import pytest

from receivers.jira.limits import TEXT_MAX, cut, fit_fields, jira_length, one_line, ticket_problems

URL = "http://hub.example/tickets/key/abc/"


def test_a_summary_with_a_newline_becomes_one_line():
    assert one_line("Refund\n  for order 7\r\n") == "Refund for order 7"


def test_a_long_summary_is_cut_to_255_with_an_ellipsis_counting_as_jira_does():
    summary = one_line("🦆" * 200)  # 400 UTF-16 units: Jira (Java) counts an emoji as two
    assert jira_length(summary) <= 255 and summary.endswith("…"), jira_length(summary)
    assert summary == "🦆" * 127 + "…"


def test_a_description_over_the_limit_is_cut_with_a_note_linking_to_the_full_text():
    # Given a 40,000-character description
    description = "d" * 39_990 + "THE-END-42"

    # When it is fitted
    fields, full = fit_fields({"summary": "s", "description": description}, URL)

    # Then Jira gets 32,767 characters ending with the note, and the full text is kept
    assert jira_length(fields["description"]) == TEXT_MAX
    assert fields["description"].startswith("d" * 1000) and "THE-END-42" not in fields["description"]
    assert fields["description"].endswith(f"The full description is in the hub: {URL}]"), fields[
        "description"
    ][-200:]
    assert full == description


def test_a_description_within_the_limit_is_left_alone():
    fields, full = fit_fields({"summary": "s", "description": "d" * TEXT_MAX}, URL)
    assert fields["description"] == "d" * TEXT_MAX and full == ""


def test_text_is_never_cut_inside_an_emoji():
    assert cut("ab🦆", 3) == "ab", "half of the emoji's surrogate pair would be invalid text"


def test_a_lone_surrogate_is_counted_as_one_unit_not_a_crash():
    assert jira_length("a\ud800b") == 3, "a YAML or JSON escape can give half a surrogate pair"


def test_text_with_a_lone_surrogate_is_cut_without_a_crash_and_without_it():
    assert cut("ab\ud800" + "c" * 10, 5) == "abcc", "the first five units, the lone half dropped"


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"summary": " \n "}, "summary: empty"),
        ({"summary": "s", "labels": [""]}, "an empty label"),
        ({"summary": "s", "labels": ["two words"]}, "white space"),
        ({"summary": "s", "labels": ["tab\there"]}, "white space"),
        ({"summary": "s", "labels": ["x" * 256]}, "longer than 255"),
    ],
)
def test_what_jira_would_refuse_and_no_fix_can_mend_is_named(fields, reason):
    problems = ticket_problems(fields)
    assert len(problems) == 1 and reason in problems[0], problems


def test_a_label_that_could_pass_for_the_hubs_marker_is_a_problem():
    problems = ticket_problems({"summary": "s", "labels": ["cdc", "hub-0123456789abcdef0123"]})
    assert len(problems) == 1 and "reserved for the hub's markers" in problems[0], problems


def test_a_ticket_jira_takes_has_no_problems():
    assert ticket_problems({"summary": "s", "labels": ["x" * 255, "cdc"]}) == []
