from django.conf import settings
from django.core.checks import Warning, register


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
