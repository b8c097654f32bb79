import pytest
from django.conf import settings

from receivers.base import Origin
from receivers.jira import JiraShaped
from rules.matching import RuleIndex, compile_rule
from rules.models import Rule
from rules.redaction import REDACTED, Redactor
from rules.rulefile import validate_rule

UPDATE = {
    "database": "shop",
    "table": "orders",
    "type": "update",
    "ts": 1763700000,
    "data": {
        "id": 7,
        "status": "refunded",
        "total": "120.50",
        "note": None,
        "user_password": "p",
        "card": "4111",
    },
    "old": {"status": "paid"},
}


def rule(name="r", where=None, **extra) -> Rule:
    """An unsaved rule from a spec (compile_rule needs no database)."""
    spec = {
        "name": name,
        "match": {"database": "shop", "table": ["orders"], "type": ["update"], "where": where or {}},
        "ticket": {"project": "OPS", "summary": "Order {{ data.id }} {{ data.status }} in {{ env }}"},
        **extra,
    }
    instance = Rule(pk=1)
    instance.apply_spec(validate_rule(spec))
    return instance


def matches(where: dict, event: dict = UPDATE) -> bool:
    return bool(RuleIndex([compile_rule(rule(where=where))]).match("prod", event))


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"data.status": {"equals": "refunded"}}, True),
        ({"data.status": {"equals": "paid"}}, False),
        ({"data.status": "refunded"}, True),  # a bare value means equals
        ({"data.total": {"equals": 120.5}}, True),  # "120.50" as a number
        ({"data.status": {"not_equals": "paid"}}, True),
        ({"data.missing": {"not_equals": "paid"}}, False),  # a missing path fails
        ({"data.status": {"in": ["refunded", "void"]}}, True),
        ({"data.status": {"in": ["void"]}}, False),
        ({"old.status": {"exists": True}}, True),
        ({"old.total": {"exists": True}}, False),
        ({"old.total": {"exists": False}}, True),
        ({"data.note": {"exists": True}}, True),  # NULL is a value
        ({"data.status": {"changed": True}}, True),
        ({"data.total": {"changed": True}}, False),
        ({"data.total": {"changed": False}}, True),
        ({"data.status": {"matches": "^ref"}}, True),
        ({"data.status": {"matches": "^paid"}}, False),
        ({"data.note": {"matches": ".*"}}, False),  # NULL matches nothing
        ({"data.total": {"gt": 100}}, True),
        ({"data.total": {"gt": 100, "lt": 120}}, False),  # every condition must hold
        ({"data.status": {"gt": 1}}, False),  # not a number
        ({"data.total": {"lt": 121}}, True),
    ],
)
def test_conditions(where, expected):
    assert matches(where) is expected, where


def test_only_the_right_environment_database_table_and_type_are_candidates():
    index = RuleIndex([compile_rule(rule(environments=["staging"]))])
    assert index.match("staging", UPDATE)
    assert not index.match("prod", UPDATE)
    assert not index.match("staging", {**UPDATE, "table": "customers"})
    assert not index.match("staging", {**UPDATE, "type": "insert"})
    assert not index.match("staging", {**UPDATE, "database": "crm"})


def test_rendering_makes_a_ticket_with_jiras_extras_and_redacts_sensitive_columns():
    compiled = compile_rule(
        rule(
            redact=["data.card"],
            ticket={"project": "OPS", "summary": "x", "description": "{{ data|pprint }}"},
        )
    )
    redactor = Redactor(settings.HUB_REDACT_NAMES, ["data.card"])  # what the transform does first
    ticket = compiled.render("prod", redactor.event(UPDATE), "id-1")
    assert ticket.extras == {"jira": {"project": "OPS", "issue_type": "Task"}}
    assert "'user_password': '[redacted]'" in ticket.body, "global names redact inside names"
    assert f"'card': '{REDACTED}'" in ticket.body, "the rule's own redact list"
    assert "'status': 'refunded'" in ticket.body
    fields = JiraShaped().prepare(ticket, Origin("key-1", "http://hub/t/key-1")).payload
    assert fields["project"] == {"key": "OPS"} and fields["issuetype"] == {"name": "Task"}
    assert fields["description"] == ticket.body and fields["summary"] == "x"


def test_a_summary_becomes_one_line_within_jiras_limit():
    compiled = compile_rule(
        rule(ticket={"project": "OPS", "summary": "a\n  b {{ data.status }}" + "z" * 300})
    )
    ticket = compiled.render("prod", UPDATE, "id-1")
    assert ticket.title == "a b refunded" + "z" * 300, "one line, whatever the receiver"
    summary = JiraShaped().prepare(ticket, Origin("key-1", "http://hub/t/key-1")).payload["summary"]
    assert summary.startswith("a b refunded") and len(summary) == 255, "Jira's limit, by the Jira receiver"


def test_values_are_not_html_escaped():
    event = {**UPDATE, "data": {**UPDATE["data"], "status": "<b>R&D</b>"}}
    assert compile_rule(rule()).render("prod", event, "id").title == "Order 7 <b>R&D</b> in prod"


def test_ungrouped_tickets_are_per_event_and_grouped_ones_per_group():
    single = compile_rule(rule())
    assert single.group_key("prod", UPDATE) is None
    assert single.event_key("a") != single.event_key("b")

    grouped = compile_rule(rule(group_by=["env", "table"], group_window="10m"))
    other_row = {**UPDATE, "ts": UPDATE["ts"] + 3000, "data": {"id": 8}}
    assert grouped.group_key("prod", UPDATE) == grouped.group_key("prod", other_row), (
        "the window is not the key"
    )
    assert grouped.group_key("prod", UPDATE) != grouped.group_key("dev", UPDATE)
    assert grouped.group_key("prod", UPDATE) != grouped.group_key("prod", {**UPDATE, "table": "customers"})


def test_a_rule_may_name_several_tables():
    spec = {
        "name": "two-tables",
        "match": {"database": "shop", "table": ["orders", "customers"], "type": ["update"]},
        "ticket": {"project": "OPS", "summary": "x"},
    }
    instance = Rule(pk=1)
    instance.apply_spec(validate_rule(spec))
    index = RuleIndex([compile_rule(instance)])
    assert index.match("prod", UPDATE) and index.match("prod", {**UPDATE, "table": "customers"})
    assert not index.match("prod", {**UPDATE, "table": "inventory"})
