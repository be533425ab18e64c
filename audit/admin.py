import json

from django.contrib import admin
from django.utils.html import format_html

from audit.admin_mixins import ReadOnlyAdminMixin
from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the log is evidence, nobody edits it, whatever their admin rights."""

    list_display = ("seq", "created_at", "actor", "action", "object_type", "object_id")
    list_filter = ("action", "object_type")
    search_fields = ("actor", "action", "object_id", "hash")
    date_hierarchy = "created_at"
    readonly_fields = (
        "seq",
        "created_at",
        "actor",
        "actor_id",
        "action",
        "object_type",
        "object_id",
        "pretty_data",
        "prev_hash",
        "hash",
    )
    exclude = ("data",)
    show_full_result_count = False

    @admin.display(description="data")
    def pretty_data(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True))
