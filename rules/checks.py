from django.core.checks import Tags, Warning, register
from django.db import DatabaseError

from rules.models import Rule
from rules.rulefile import RuleError, validate_rule


@register(Tags.database)
def stored_rules_validate(app_configs, databases=None, **kwargs):
    """Rules saved under an older hub that this one refuses (a pattern RE2 cannot run, a template
    tag outside the sandbox, ...): each is left out of matching, with an error record per batch;
    `manage.py check --database default` (run by `make run`) lists them at start."""
    if not databases:
        return []
    try:
        rules = list(Rule.objects.all())
    except DatabaseError:  # not migrated yet
        return []
    problems = []
    for rule in rules:
        try:
            validate_rule(rule.to_spec())
        except RuleError as exc:
            problems.append(
                Warning(
                    f"rule {rule.name!r} no longer validates and matches nothing: {'; '.join(exc.problems)}",
                    hint="Fix it in the admin (Rules) or in the rule file, and import it again.",
                    obj=rule,
                    id="rules.W001",
                )
            )
    return problems
