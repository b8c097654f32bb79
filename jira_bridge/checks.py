from django.conf import settings
from django.core.checks import Error, Warning, register

from cdc_publisher.brokers import REDIS


@register()
def jira_configured(app_configs, **kwargs):
    if not settings.JIRA_URL:
        return [
            Warning(
                "JIRA_URL is not set: the hub runs in outbox mode and keeps tickets in its own "
                "database (admin: Outbox > Outbox tickets).",
                id="jira_bridge.W001",
            )
        ]
    if not (settings.JIRA_USER and settings.JIRA_API_TOKEN):
        return [Warning("JIRA_URL is set but JIRA_USER or JIRA_API_TOKEN is not.", id="jira_bridge.W002")]
    return []


@register()
def waits_fit_the_visibility_timeout(app_configs, **kwargs):
    """A message held longer than the broker's visibility timeout is delivered again (Redis;
    RabbitMQ has none, and carries countdowns in its own queues): every countdown is capped at
    JIRA_BACKOFF_MAX (then its call lasts up to 2 x JIRA_TIMEOUT), and a batch stops taking events
    after HUB_BATCH_SECONDS."""
    if settings.HUB_BROKER != REDIS:
        return []
    visibility = settings.CELERY_VISIBILITY_TIMEOUT
    holds = {
        "JIRA_BACKOFF_MAX + 2 x JIRA_TIMEOUT": settings.JIRA_BACKOFF_MAX + 2 * settings.JIRA_TIMEOUT,
        "HUB_BATCH_SECONDS": settings.HUB_BATCH_SECONDS,
    }
    return [
        Error(
            f"{name} ({seconds:g} s) is not below CELERY_VISIBILITY_TIMEOUT ({visibility} s): "
            "messages held that long would be delivered twice, and each second copy costs a run.",
            id="jira_bridge.E001",
        )
        for name, seconds in holds.items()
        if seconds >= visibility
    ]
