import pytest
from django.core.management import CommandError, call_command

from notifications.models import AuditEntry
from rules.importing import import_rules
from rules.models import Rule
from rules.rulefile import RuleError, load_rule_file
from tests.conftest import EXAMPLES

GOOD = """
rules:
  - name: prod-refunds
    environments: [prod]
    match:
      database: shop
      table: orders
      type: [update]
      where:
        data.status: {equals: refunded}
        old.status: {exists: true}
    ticket:
      project: OPS
      summary: "Order {{ data.id }} refunded in {{ env }}"
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(RuleError) as caught:
        load_rule_file(text)
    return caught.value.problems


def test_it_reads_a_rule_into_its_canonical_form():
    (spec,) = load_rule_file(GOOD)
    assert spec["source"] == "cdc", "source defaults to cdc"
    assert spec["match"]["table"] == ["orders"], "a single name becomes a list"
    assert spec["ticket"]["issue_type"] == "Task", "issue type defaults to Task"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("    ticket:", "    colour: red\n    ticket:"), "rule 'prod-refunds': colour: unknown key"),
        (
            ("equals: refunded", "eq: refunded"),
            "rule 'prod-refunds': match.where.data.status.eq: unknown condition",
        ),
        (
            ("{exists: true}", "{matches: '(unclosed'}"),
            "rule 'prod-refunds': match.where.old.status.matches: bad regular",
        ),
        (("{{ env }}", "{% if %}"), "rule 'prod-refunds': ticket.summary: template does not compile"),
        (("[update]", "[upsert]"), "rule 'prod-refunds': match.type: unknown type 'upsert'"),
        (("[prod]", "[qa]"), "rule 'prod-refunds': environments: unknown environment 'qa'"),
        (("project: OPS", "projekt: OPS"), "rule 'prod-refunds': ticket.project: required"),
        (
            ("data.status:", "status:"),
            "rule 'prod-refunds': match.where.status: a path must start with data.",
        ),
        (
            ("      table: orders", "      table: orders\n      bucket: b"),
            "rule 'prod-refunds': match.bucket: unknown key",
        ),
        (
            ("      project: OPS", "      project: OPS\n      labels: [cdc, " + "r" * 256 + "]"),
            "rule 'prod-refunds': ticket.labels: 'rrrr",
        ),
        (
            ("      project: OPS", "      project: OPS\n      labels: [hub-0123]"),
            "rule 'prod-refunds': ticket.labels: 'hub-0123' starts with 'hub-'",
        ),
        (
            ("      project: OPS", "      project: OPS\n      labels: [cdc, needs review]"),
            "rule 'prod-refunds': ticket.labels: 'needs review' has white space",
        ),
    ],
)
def test_it_refuses_a_bad_rule_naming_the_rule_and_the_key_path(change, problem):
    old, new = change
    assert old in GOOD
    problems = problems_of(GOOD.replace(old, new))
    assert any(p.startswith(problem) for p in problems), problems


def test_it_refuses_two_rules_with_one_name():
    text = GOOD + GOOD.split("rules:\n", 1)[1]
    assert problems_of(text) == ["rule 'prod-refunds': name: used by an earlier rule in this file"]


@pytest.mark.django_db
def test_an_invalid_file_imports_nothing(tmp_path):
    # Given a file whose first rule is fine and whose second is not
    bad = GOOD + GOOD.split("rules:\n", 1)[1].replace("prod-refunds", "second").replace(
        "{{ env }}", "{% endif %}"
    )
    path = tmp_path / "rules.yaml"
    path.write_text(bad)

    # When it is imported, then it is refused with the rule and key path, and nothing is saved
    with pytest.raises(CommandError) as caught:
        call_command("import_rules", str(path))
    assert "rule 'second': ticket.summary: template does not compile" in str(caught.value)
    assert Rule.objects.count() == 0


@pytest.mark.django_db
def test_export_then_import_round_trips_every_rule(capsys):
    # Given the example rules imported
    first = import_rules((EXAMPLES / "rules.yaml").read_text())
    assert len(first.created) == 5

    # When they are exported and the export imported again
    call_command("export_rules")
    exported = capsys.readouterr().out
    again = import_rules(exported)

    # Then nothing changes, and the export is a valid rule file of the same rules
    assert again.unchanged == sorted(first.created), again
    assert [s["name"] for s in load_rule_file(exported)] == sorted(first.created)
    assert AuditEntry.objects.filter(action=AuditEntry.RULES_IMPORTED).count() == 2


@pytest.mark.django_db
def test_import_updates_by_name_and_prunes_on_request():
    import_rules((EXAMPLES / "rules.yaml").read_text())
    result = import_rules(GOOD.replace("OPS", "FIN"), prune=True)
    assert (result.updated, result.created) == (["prod-refunds"], [])
    assert sorted(result.deleted) == ["customer-deleted", "inventory-churn", "large-orders", "new-drops"]
    assert list(Rule.objects.values_list("name", "project")) == [("prod-refunds", "FIN")]


@pytest.mark.django_db
def test_import_rules_reads_standard_input_given_a_dash(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(GOOD))
    call_command("import_rules", "-")
    assert capsys.readouterr().out.strip() == "1 created, 0 updated, 0 unchanged, 0 deleted"
    assert Rule.objects.get().name == "prod-refunds"


@pytest.mark.django_db
def test_a_stored_rule_this_hub_refuses_is_named_by_the_database_check():
    # Given a rule saved by an older hub, with a pattern RE2 cannot run (look-ahead)
    from django.core.checks import run_checks

    from rules.models import Rule

    Rule.objects.create(name="old-lookahead", source="cdc", project="OPS", summary="x",
                        match={"where": {"data.a": {"matches": "a(?=b)"}}})  # fmt: skip

    # When the database checks run (make run does, after migrating)
    found = [m for m in run_checks(tags=["database"], databases=["default"]) if m.id == "rules.W001"]

    # Then the rule is named, with why
    assert len(found) == 1 and "old-lookahead" in found[0].msg and "matches" in found[0].msg, found
