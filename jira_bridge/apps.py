from django.apps import AppConfig


class JiraBridgeConfig(AppConfig):
    name = "jira_bridge"
    verbose_name = "Jira bridge"

    def ready(self) -> None:
        from jira_bridge import checks  # noqa: F401 - registers the system checks
