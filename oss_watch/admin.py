from django.contrib import admin, messages
from django.http import HttpRequest

from oss_watch.models import WatchedBucket
from oss_watch.tasks import check_bucket_task


@admin.register(WatchedBucket)
class WatchedBucketAdmin(admin.ModelAdmin):
    list_display = ("bucket", "prefix", "environment", "endpoint", "interval", "enabled", "objects_known",
                    "last_checked_at", "last_error")  # fmt: skip
    list_filter = ("environment", "enabled")
    search_fields = ("bucket", "prefix", "endpoint")
    readonly_fields = ("baselined", "objects_known", "last_checked_at", "last_error")
    actions = ["check_now"]

    @admin.action(description="Check the selected buckets now")
    def check_now(self, request: HttpRequest, queryset) -> None:
        for watched in queryset:
            check_bucket_task.delay(watched.pk)
        self.message_user(request, f"{queryset.count()} checks queued", messages.SUCCESS)
