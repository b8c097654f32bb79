from django.core.management.base import BaseCommand

from rules.backfill import redact_stored_records


class Command(BaseCommand):
    help = (
        "Redact records stored before the hub redacted at every depth (or before a rule named a "
        "path): event payloads, and error records' raw input where it parses. Idempotent; in "
        "batches of --batch rows, each committed on its own."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=1000, help="rows per transaction")
        parser.add_argument("--dry-run", action="store_true", help="count what would change, change nothing")

    def handle(self, *args, batch, dry_run, **options):
        changed = redact_stored_records(batch=batch, dry_run=dry_run)
        prefix = "dry run: would redact" if dry_run else "redacted"
        self.stdout.write(f"{prefix} {changed['events']} events and {changed['errors']} error records")
