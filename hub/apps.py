from django.apps import AppConfig
from django.db.models.signals import post_migrate


class HubConfig(AppConfig):
    name = "hub"
    verbose_name = "The hub"

    def ready(self) -> None:
        from core.roles import ensure_roles
        from hub import checks  # noqa: F401 - registers the system checks

        post_migrate.connect(ensure_roles, dispatch_uid="hub-roles")  # hub has no models: after every app
