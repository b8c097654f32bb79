from django.core.checks import Error, register

from hub.retention import retention_problems


@register()
def retention_is_at_least_a_day(app_configs, **kwargs):
    """A retention of 0 days would prune records as they arrive (prune() refuses it too)."""
    return [Error(problem, id="hub.E001") for problem in retention_problems()]
