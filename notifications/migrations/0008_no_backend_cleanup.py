from django.db import migrations


def disable_backend_cleanup(apps, schema_editor):
    """Installs from before CELERY_RESULT_EXPIRES = None have beat's `celery.backend_cleanup` entry,
    which sends to the queue `celery` that no worker here reads: disable it (notifications.prune
    prunes task results instead)."""
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task="celery.backend_cleanup").update(enabled=False)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0007_daily_latency_records_pruned"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(disable_backend_cleanup, migrations.RunPython.noop)]
