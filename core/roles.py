"""The two roles, as groups kept up to date after every migrate: viewers look at everything but
failed logins; operators also edit rules, silences and watched buckets, replay dead letters, ask
for tickets through the API, see raw input that could not be redacted, see failed logins and
lockouts and lift a lockout (delete every access attempt of its username or address). Give a person
a staff account and one of the groups (admin: Authentication › Users)."""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

VIEWERS, OPERATORS = "viewers", "operators"
HUB_APPS = [
    "notifications",
    "rules",
    "jira_bridge",
    "outbox",
    "oss_watch",
    "dashboard",
    "django_celery_results",
    "django_celery_beat",
]
OPERATOR_EDITS = {"rules": ["rule", "silence"], "oss_watch": ["watchedbucket"]}
REPLAY_PERMISSION = "notifications.replay_jobfailure"
ASK_FOR_TICKETS_PERMISSION = "jira_bridge.add_ticketrequest"  # POST /api/tickets
# Raw input that did not parse (so could not be redacted) may hold secrets: operators only.
RAW_INPUT_PERMISSION = "notifications.see_raw_input"
# Axes' records (failed logins, lockouts, every login) show each client's address and user agent,
# and a password typed into the username field in clear: operators only.
SEE_LOGINS_PERMISSIONS = [
    f"axes.view_{model}" for model in ("accessattempt", "accesslog", "accessfailurelog")
]
LIFT_LOCKOUT_PERMISSION = "axes.delete_accessattempt"
OPERATOR_EXTRA = [
    tuple(p.split("."))
    for p in (
        REPLAY_PERMISSION,
        ASK_FOR_TICKETS_PERMISSION,
        RAW_INPUT_PERMISSION,
        *SEE_LOGINS_PERMISSIONS,
        LIFT_LOCKOUT_PERMISSION,
    )
]


def ensure_roles(**kwargs) -> None:
    """Runs after each app's migrations (permissions appear app by app): idempotent."""
    views = Q(content_type__app_label__in=HUB_APPS, codename__startswith="view_")
    edits = Q(pk__in=[])
    for app, models in OPERATOR_EDITS.items():
        codenames = [f"{action}_{model}" for model in models for action in ("add", "change", "delete")]
        edits |= Q(content_type__app_label=app, codename__in=codenames)
    for app, codename in OPERATOR_EXTRA:
        edits |= Q(content_type__app_label=app, codename=codename)
    Group.objects.get_or_create(name=VIEWERS)[0].permissions.set(Permission.objects.filter(views))
    Group.objects.get_or_create(name=OPERATORS)[0].permissions.set(Permission.objects.filter(views | edits))
