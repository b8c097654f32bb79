from django.core.management.base import BaseCommand

from hub.retention import prune


class Command(BaseCommand):
    help = (
        "Delete records past their retention (HUB_RETENTION_DAYS and friends), in batches of "
        "HUB_PRUNE_BATCH rows, as the hourly records-prune beat entry does."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")

    def handle(self, *args, dry_run, **options):
        counts = prune(dry_run=dry_run)
        done = "would be deleted" if dry_run else "deleted"
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count} {done}")
        self.stdout.write(f"{'dry run: ' if dry_run else ''}{sum(counts.values())} records {done}")
