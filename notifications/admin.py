from django.contrib import admin
from django.http import HttpRequest

from core.roles import RAW_INPUT_PERMISSION
from notifications.models import AuditEntry, DailyStat, ErrorLog, Notification, StoredBatch


class RecordAdmin(admin.ModelAdmin):
    """Records are written by the hub, never edited by hand: viewable, not addable or changeable."""

    list_per_page = 50
    show_full_result_count = False  # COUNT(*) on a large table on every page load is costly

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ErrorLog)
class ErrorLogAdmin(RecordAdmin):
    list_display = ("created_at", "kind", "source", "environment", "where", "message")
    list_filter = ("kind", "source", "environment", "raw_redacted", "created_at")
    search_fields = ("message", "where", "raw")
    date_hierarchy = "created_at"

    def get_search_fields(self, request: HttpRequest):
        # Searching raw input that could not be redacted would tell a viewer what it holds.
        return self.search_fields if request.user.has_perm(RAW_INPUT_PERMISSION) else ("message", "where")

    def get_fields(self, request: HttpRequest, obj=None):
        fields = super().get_fields(request, obj)
        if obj is not None and not obj.raw_redacted and not request.user.has_perm(RAW_INPUT_PERMISSION):
            return [f for f in fields if f != "raw"]
        return fields

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # ?raw__contains=h would tell a viewer one guess at a time what hidden raw input holds.
        return raw_lookup_allowed(lookup, request, ("raw",)) and super().lookup_allowed(
            lookup, value, request
        )


def raw_lookup_allowed(lookup: str, request: HttpRequest | None, fields: tuple[str, ...]) -> bool:
    hidden = lookup.split("__", 1)[0] in fields
    return not hidden or (request is not None and request.user.has_perm(RAW_INPUT_PERMISSION))


@admin.register(StoredBatch)
class StoredBatchAdmin(RecordAdmin):
    list_display = ("created_at", "environment", "source", "origin")
    list_filter = ("environment", "source", "created_at")
    date_hierarchy = "created_at"

    def get_fields(self, request: HttpRequest, obj=None):
        # Its rejected lines may hold raw input that could not be redacted: operators only.
        fields = super().get_fields(request, obj)
        return (
            fields if request.user.has_perm(RAW_INPUT_PERMISSION) else [f for f in fields if f != "rejects"]
        )

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        return raw_lookup_allowed(lookup, request, ("rejects",)) and super().lookup_allowed(
            lookup, value, request
        )


@admin.register(AuditEntry)
class AuditEntryAdmin(RecordAdmin):
    list_display = ("created_at", "action", "actor", "environment", "summary")
    list_filter = ("action", "environment", "actor", "created_at")
    search_fields = ("summary", "object_id", "actor")
    date_hierarchy = "created_at"


@admin.register(Notification)
class NotificationAdmin(RecordAdmin):
    list_display = ("created_at", "level", "environment", "title")
    list_filter = ("level", "environment", "created_at")
    search_fields = ("title", "body")
    date_hierarchy = "created_at"


@admin.register(DailyStat)
class DailyStatAdmin(RecordAdmin):
    list_display = (
        "day",
        "environment",
        "source",
        "rule",
        "events",
        "duplicates",
        "matched",
        "silenced",
        "tickets",
        "failures",
        "bad_input",
        "latency_p50_ms",
        "latency_p95_ms",
    )
    list_filter = ("environment", "source", "day")
    search_fields = ("rule",)
    date_hierarchy = "day"
