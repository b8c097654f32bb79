from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from dashboard.models import ApiToken


class Command(BaseCommand):
    help = "Issue a bearer token for the JSON API, acting as USER; printed once, only its hash is kept."

    def add_arguments(self, parser):
        parser.add_argument("user", help="the username the token acts as (its roles apply)")
        parser.add_argument("--name", default="api", help="what will use the token")

    def handle(self, *args, user: str, name: str, **options):
        account = get_user_model().objects.filter(username=user, is_active=True).first()
        if account is None:
            raise CommandError(f"no active user {user!r}")
        if not account.is_staff:
            raise CommandError(
                f"{user!r} is not a staff account: give it a role first (viewers or operators)"
            )
        _, token = ApiToken.issue(account, name)
        self.stdout.write(token)
