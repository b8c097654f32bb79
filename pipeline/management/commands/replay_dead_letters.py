from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from notifications.records import dead_letters
from pipeline.replay import replay_and_send


class Command(BaseCommand):
    help = (
        "Replay job failures: failed ticket requests (dead letters) go through the bridge again, "
        "through the ledger and the budget, so a ticket that exists is never created again; stored "
        "batches of events run through today's rules again, so no event is recorded twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--id", type=int, action="append", dest="ids", help="job failure id (repeatable)")
        parser.add_argument("--rule", help="rule name")
        parser.add_argument("--env", help="environment")
        parser.add_argument("--since", help="failed at or after (YYYY-MM-DD or ISO time)")
        parser.add_argument("--until", help="failed before (YYYY-MM-DD or ISO time)")
        parser.add_argument("--dry-run", action="store_true", help="say what would happen, change nothing")

    def handle(self, *args, ids, rule, env, since, until, dry_run, **options):
        failures = dead_letters()
        if ids:
            failures = failures.filter(pk__in=ids)
        if rule:
            failures = failures.filter(payload__rule=rule)
        if env:
            failures = failures.filter(environment=env)
        if since:
            failures = failures.filter(created_at__gte=moment(since, "--since"))
        if until:
            failures = failures.filter(created_at__lt=moment(until, "--until"))
        plan = replay_and_send(failures, actor="manage.py replay_dead_letters", dry_run=dry_run)
        prefix = "dry run: " if dry_run else ""
        self.stdout.write(f"{prefix}{plan.total} dead letters: {plan.summary()}")


def moment(text: str, option: str):
    value = parse_datetime(text) or parse_date(text)
    if value is None:
        raise CommandError(f"{option}: not a date or time: {text!r}")
    return value
