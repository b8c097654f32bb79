import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the first admin user if there is none: HUB_ADMIN_USER (default admin) with "
        "HUB_ADMIN_PASSWORD, or a generated password written to STATE_DIR/admin-password (mode 600)."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        username = os.environ.get("HUB_ADMIN_USER", "admin")
        password = os.environ.get("HUB_ADMIN_PASSWORD")
        where = "HUB_ADMIN_PASSWORD"
        if not password:
            password = secrets.token_urlsafe(12)
            path = settings.STATE_DIR / "admin-password"
            settings.STATE_DIR.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(password + "\n")
            where = str(path)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(f"created admin user {username!r}; its password is in {where}")
