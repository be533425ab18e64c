from django.contrib import admin
from django.utils.html import format_html, format_html_join

from audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from dnsproviders.models import (
    DnsChange,
    ProviderAccount,
    RollbackCheck,
)


@admin.register(ProviderAccount)
class ProviderAccountAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "description")
    list_filter = ("kind",)
    search_fields = ("name", "description")


def changes_table(changes) -> str:
    rows = format_html_join(
        "",
        "<tr><td>{} {}{}</td><td><code>{}</code></td><td>→</td><td><code>{}</code></td></tr>",
        (
            (
                c["name"],
                c["type"],
                f" [{c['set_identifier']}]" if c.get("set_identifier") else "",
                ", ".join(c["expected"]) or "(absent)",
                ", ".join(c["new"]) or "(absent)",
            )
            for c in changes
        ),
    )
    return format_html(
        "<table><thead><tr><th>Record</th><th>Before (expected)</th><th></th><th>After</th>"
        "</tr></thead><tbody>{}</tbody></table>",
        rows,
    )


@admin.register(DnsChange)
class DnsChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written and advanced only by the executor; here for reading."""

    list_display = (
        "id",
        "created_at",
        "request",
        "direction",
        "zone",
        "status",
        "provider_change_id",
        "attempts",
    )
    list_filter = ("status", "direction", "provider_account")
    search_fields = (
        "provider_change_id",
        "zone",
        "request__incident_ref",
        "request__service__slug",
    )
    list_select_related = ("request__service", "request__from_target", "request__to_target")
    date_hierarchy = "created_at"
    exclude = ("changes",)
    readonly_fields = ("records",)

    @admin.display(description="records (before → after)")
    def records(self, obj):
        return changes_table(obj.changes)


@admin.register(RollbackCheck)
class RollbackCheckAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("request", "due_at", "evaluated_at", "met")
    list_filter = ("met",)
    search_fields = ("request__service__slug", "request__incident_ref")
    list_select_related = ("request__service", "request__from_target", "request__to_target")
