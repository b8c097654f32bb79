from django import forms
from django.contrib import admin

from notifications.admin import RecordAdmin
from notifications.fields import exact_json
from notifications.models import Event
from rules.backfill import payload_redactors, redacted_payload
from rules.models import Rule, Silence
from rules.rulefile import RuleError, validate_rule


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = [
            "name",
            "enabled",
            "source",
            "environments",
            "match",
            "project",
            "issue_type",
            "summary",
            "description",
            "labels",
            "priority",
            "group_by",
            "group_window",
            "redact",
        ]

    def clean(self):
        """The same validation as the rule file, so a rule saved here always exports and imports."""
        cleaned = super().clean()
        draft = Rule(**{k: v for k, v in cleaned.items() if k in {f.name for f in Rule._meta.fields}})
        try:
            validate_rule(draft.to_spec())
        except RuleError as exc:
            for problem in exc.problems:
                self.add_error(None, problem)
        return cleaned


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ("name", "enabled", "source", "environments", "match", "project", "updated_at")
    list_filter = ("enabled", "source", "project")
    search_fields = ("name", "summary", "project")
    fieldsets = (
        (None, {"fields": ("name", "enabled", "source", "environments", "match")}),
        ("Ticket", {"fields": ("project", "issue_type", "summary", "description", "labels", "priority")}),
        ("Grouping and redaction", {"fields": ("group_by", "group_window", "redact")}),
    )


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = (
        "reason",
        "rule",
        "environment",
        "database",
        "table",
        "until",
        "window",
        "enabled",
        "silenced_events",
    )
    list_filter = ("enabled", "environment", "rule")
    search_fields = ("reason", "database", "table")
    readonly_fields = ("silenced_events", "created_by", "created_at")

    @admin.display(description="recurring window (UTC)")
    def window(self, obj: Silence) -> str:
        if obj.starts is None:
            return ""
        return f"{obj.weekdays or 'every day'} {obj.starts:%H:%M}-{obj.ends:%H:%M}"

    def save_model(self, request, obj: Silence, form, change) -> None:
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)


# Events are the records' (notifications); shown here, where their redaction is known.
@admin.register(Event)
class EventAdmin(RecordAdmin):
    list_display = ("received_at", "environment", "type", "database", "table", "outcome", "tickets")
    list_filter = ("environment", "source", "outcome", "type", "received_at")
    search_fields = ("event_id", "database", "table", "origin")
    date_hierarchy = "received_at"

    readonly_fields = ("payload_redacted",)
    exclude = ("payload",)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("ticket_requests")

    @admin.display(description="payload (as received, numbers exact, secrets redacted)")
    def payload_redacted(self, obj: Event) -> str:
        return exact_json(redacted_payload(obj, payload_redactors()))

    @admin.display(description="tickets")
    def tickets(self, obj: Event) -> str:
        return ", ".join(r.jira_key or f"({r.state})" for r in obj.ticket_requests.all())
