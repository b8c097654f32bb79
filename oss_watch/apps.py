from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class OssWatchConfig(AppConfig):
    name = "oss_watch"
    verbose_name = "OSS watch"

    def ready(self) -> None:
        from oss_watch.models import WatchedBucket
        from oss_watch.schedule import on_delete, on_save

        post_save.connect(on_save, sender=WatchedBucket, dispatch_uid="oss-watch-schedule")
        post_delete.connect(on_delete, sender=WatchedBucket, dispatch_uid="oss-watch-unschedule")
