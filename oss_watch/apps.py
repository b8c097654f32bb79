from django.apps import AppConfig


class OssWatchConfig(AppConfig):
    name = "oss_watch"
    verbose_name = "OSS watch"
