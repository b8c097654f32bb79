from django.db import models
from django.utils import timezone

LOCAL_SCHEME = "file://"


class WatchedBucket(models.Model):
    """An Alibaba OSS bucket (or, with a file:// endpoint, a local directory) checked on a schedule.
    Credentials are the names of environment variables, never the secrets themselves."""

    environment = models.CharField(max_length=32)
    endpoint = models.CharField(
        max_length=255, help_text="e.g. https://oss-cn-hangzhou.aliyuncs.com, or file:///srv/drop"
    )
    bucket = models.CharField(max_length=255, help_text="bucket name (for file://, a label)")
    prefix = models.CharField(max_length=1024, blank=True)
    access_key_env = models.CharField(
        max_length=128, blank=True, help_text="name of the variable holding the key id"
    )
    secret_key_env = models.CharField(
        max_length=128, blank=True, help_text="name of the variable holding the secret"
    )
    interval = models.PositiveIntegerField(default=30, help_text="seconds between checks")
    enabled = models.BooleanField(default=True)
    events_on_first_check = models.BooleanField(
        default=False, help_text="off: the first check records a baseline without events"
    )
    baselined = models.BooleanField(default=False, editable=False)
    objects_known = models.PositiveBigIntegerField(default=0, editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "endpoint", "bucket", "prefix"], name="watched_bucket_unique"
            )
        ]
        ordering = ["environment", "bucket", "prefix"]

    def __str__(self) -> str:
        return f"{self.environment}: {self.bucket}/{self.prefix}"

    @property
    def is_local(self) -> bool:
        return self.endpoint.startswith(LOCAL_SCHEME)


class ObjectFingerprint(models.Model):
    """What the last check saw of one object: compared with the next listing."""

    watched = models.ForeignKey(WatchedBucket, on_delete=models.CASCADE, related_name="fingerprints")
    key = models.TextField(db_collation="C")  # byte order, as OSS lists: checks merge the two in order
    etag = models.CharField(max_length=128)
    size = models.BigIntegerField()
    last_modified = models.BigIntegerField(help_text="seconds since the epoch")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["watched", "key"], name="fingerprint_unique_key")]

    def __str__(self) -> str:
        return self.key
