import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rules.importing import import_rules
from rules.rulefile import RuleError


class Command(BaseCommand):
    help = "Import a YAML rule file (version 1): all of it, or nothing if any rule is refused."

    def add_arguments(self, parser):
        parser.add_argument("file", help="path to the rule file, or - for standard input")
        parser.add_argument(
            "--prune", action="store_true", help="also delete rules that the file does not name"
        )

    def handle(self, *args, file: str, prune: bool, **options):
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        try:
            result = import_rules(text, prune=prune, actor="manage.py import_rules")
        except RuleError as exc:
            raise CommandError(f"{file} refused, nothing imported:\n  " + "\n  ".join(exc.problems)) from None
        self.stdout.write(result.summary())
