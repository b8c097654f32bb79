from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The hub's own pages beside the admin: the live page, job and error views, the JSON API."""

    name = "dashboard"
