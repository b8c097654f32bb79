"""The two roles, as groups kept up to date after every migrate: viewers look at everything;
operators also edit rules, silences and watched buckets, replay dead letters and ask for tickets
through the API. Give a person a staff account and one of the groups (admin: Authentication ›
Users)."""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

VIEWERS, OPERATORS = "viewers", "operators"
HUB_APPS = [
    "notifications",
    "rules",
    "jira_bridge",
    "oss_watch",
    "dashboard",
    "django_celery_results",
    "django_celery_beat",
]
OPERATOR_EDITS = {"rules": ["rule", "silence"], "oss_watch": ["watchedbucket"]}
REPLAY_PERMISSION = "notifications.replay_jobfailure"
ASK_FOR_TICKETS_PERMISSION = "jira_bridge.add_ticketrequest"  # POST /api/tickets
OPERATOR_EXTRA = [tuple(p.split(".")) for p in (REPLAY_PERMISSION, ASK_FOR_TICKETS_PERMISSION)]


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
