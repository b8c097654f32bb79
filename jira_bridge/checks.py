from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def jira_configured(app_configs, **kwargs):
    if not settings.JIRA_URL:
        return [
            Warning(
                "JIRA_URL is not set: the hub runs in outbox mode and keeps tickets in its own "
                "database (admin: Jira bridge > Outbox tickets).",
                id="jira_bridge.W001",
            )
        ]
    if not (settings.JIRA_USER and settings.JIRA_API_TOKEN):
        return [Warning("JIRA_URL is set but JIRA_USER or JIRA_API_TOKEN is not.", id="jira_bridge.W002")]
    return []


@register()
def waits_fit_the_visibility_timeout(app_configs, **kwargs):
    """A countdown longer than the broker's visibility timeout is delivered twice (Redis)."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    longest = max(settings.JIRA_BACKOFF_MAX, settings.JIRA_BREAKER_COOLDOWN, settings.JIRA_COMMENT_INTERVAL)
    if longest >= visibility:
        return [
            Error(
                f"The longest wait ({longest:g} s: JIRA_BACKOFF_MAX, JIRA_BREAKER_COOLDOWN or "
                f"JIRA_COMMENT_INTERVAL) is not below CELERY_VISIBILITY_TIMEOUT ({visibility} s): "
                "waiting tasks would be delivered twice.",
                id="jira_bridge.E001",
            )
        ]
    return []
