from django.core.management.base import BaseCommand, CommandError

from oss_watch.models import WatchedBucket
from oss_watch.tasks import check_bucket_task


class Command(BaseCommand):
    help = (
        "Watch an OSS bucket (or a file:// directory): add or update, --remove, --list, --check-now. "
        "A watch is named by --env, --endpoint, --bucket and --prefix (or --id)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--env")
        parser.add_argument(
            "--endpoint", help="e.g. https://oss-cn-hangzhou.aliyuncs.com or file:///srv/drop"
        )
        parser.add_argument("--bucket")
        parser.add_argument("--prefix", default="")
        parser.add_argument("--id", type=int, help="a watch's id (see --list)")
        parser.add_argument("--access-key-env", help="name of the variable holding the access key id")
        parser.add_argument("--secret-key-env", help="name of the variable holding the secret")
        parser.add_argument("--interval", type=int, help="seconds between checks (default 30)")
        parser.add_argument("--disable", action="store_true", help="keep the watch but stop checking")
        parser.add_argument("--events-on-first-check", action="store_true")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--remove", action="store_true")
        action.add_argument("--list", action="store_true")
        action.add_argument(
            "--check-now", action="store_true", help="check once, now, and print what changed"
        )

    def handle(self, *args, **o):
        if o["list"]:
            for w in WatchedBucket.objects.all():
                state = "enabled" if w.enabled else "disabled"
                where = f"{w.environment}\t{w.endpoint}\t{w.bucket}/{w.prefix}"
                health = w.last_error or "ok"
                self.stdout.write(
                    f"{w.pk}\t{where}\tevery {w.interval}s\t{state}\t{w.objects_known} objects\t{health}"
                )
            return
        if o["remove"]:
            watched = self.find(o)
            watched.delete()
            self.stdout.write(f"removed {watched}")
            return
        if o["check_now"]:
            watched = self.find(o)
            self.stdout.write(f"{watched}: {check_bucket_task.apply(args=[watched.pk]).get()}")
            return
        identity = {k: o[k] for k in ("env", "endpoint", "bucket")}
        missing = [f"--{k}" for k, v in identity.items() if not v]
        if missing:
            raise CommandError(f"to add or update a watch, give {', '.join(missing)}")
        identity = {
            "environment": o["env"],
            "endpoint": o["endpoint"],
            "bucket": o["bucket"],
            "prefix": o["prefix"],
        }
        watched = WatchedBucket.objects.filter(**identity).first()
        created = watched is None
        watched = watched or WatchedBucket(**identity)
        for option, field in (("access_key_env", "access_key_env"), ("secret_key_env", "secret_key_env"),
                              ("interval", "interval")):  # fmt: skip
            if o[option] is not None:
                setattr(watched, field, o[option])
        watched.enabled = not o["disable"]
        watched.events_on_first_check = o["events_on_first_check"] or watched.events_on_first_check
        if not watched.is_local and not (watched.access_key_env and watched.secret_key_env):
            raise CommandError("an OSS endpoint needs --access-key-env and --secret-key-env (variable names)")
        watched.save()
        self.stdout.write(
            f"{'added' if created else 'updated'} {watched} (id {watched.pk}), every {watched.interval}s"
        )

    def find(self, o) -> WatchedBucket:
        if o["id"]:
            found = WatchedBucket.objects.filter(pk=o["id"])
        else:
            found = WatchedBucket.objects.filter(
                environment=o["env"], endpoint=o["endpoint"], bucket=o["bucket"], prefix=o["prefix"]
            )
        watched = found.first()
        if watched is None:
            raise CommandError("no such watch (see --list)")
        return watched
