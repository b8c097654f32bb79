from django.core.management.base import BaseCommand

from rules.models import Rule
from rules.rulefile import dump_rule_file


class Command(BaseCommand):
    help = "Print every rule as a YAML rule file (version 1), ready for import_rules."

    def handle(self, *args, **options):
        self.stdout.write(dump_rule_file([rule.to_spec() for rule in Rule.objects.all()]), ending="")
