"""Integrations (mapping rules editable, secrets never shown) and their deliveries (read-only).
Secrets are set only by `manage.py create_integration`, which prints them once."""

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.html import format_html

from audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from failover.errors import InvalidInput
from failover.intake import tools
from failover.intake.integrations import check_rules, record_allowed_services, without_declare
from failover.intake.models import Delivery, Integration


class IntegrationForm(forms.ModelForm):
    class Meta:
        model = Integration
        fields = (
            "name",
            "kind",
            "account",
            "services",
            "rules",
            "rate_limit_per_minute",
            "active",
        )

    @cached_property
    def changed_data(self):
        # The allow-list is audited with its slugs by save_related (integration.services_
        # changed); in the generic config.changed event it would read "Service.None".
        return [name for name in super().changed_data if name != "services"]

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind") or getattr(self.instance, "kind", "")
        if "rules" in cleaned:
            try:
                check_rules(kind, cleaned["rules"])
            except InvalidInput as exc:
                self.add_error("rules", "; ".join(f"{k}: {v}" for k, v in exc.fields.items()))
        return cleaned


class KindFilter(admin.SimpleListFilter):
    """The registered paging tools by their labels (the model stores the kind as text)."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return tools.choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(Integration)
class IntegrationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = IntegrationForm
    list_display = (
        "name",
        "tool",
        "account",
        "active",
        "last_received_at",
        "rate_limit_per_minute",
        "secret_count",
        "feeds",
    )
    list_filter = (KindFilter, "active")
    search_fields = ("name", "account__username")
    list_select_related = ("account",)
    filter_horizontal = ("services",)
    fields = (
        ("name", "kind", "account"),
        ("active", "rate_limit_per_minute"),
        "services",
        "declare_missing",
        "rules",
        "secret_count",
        ("last_received_at", "created_at"),
    )
    # The name is how tools select it and the kind decides how its secrets are kept.
    readonly_fields = (
        "name",
        "kind",
        "secret_count",
        "declare_missing",
        "last_received_at",
        "created_at",
    )

    def has_add_permission(self, request):
        return False  # an integration needs a secret: `manage.py create_integration`

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("services")

    def save_related(self, request, form, formsets, change):
        before = set(form.instance.services.values_list("slug", flat=True)) if change else set()
        super().save_related(request, form, formsets, change)
        record_allowed_services(actor=request.user, integration=form.instance, before=before)

    @admin.display(description="kind", ordering="kind")
    def tool(self, obj: Integration) -> str:
        tool = tools.REGISTRY.get(obj.kind)
        return tool.label if tool else f"{obj.kind} (no such tool)"

    @admin.display(description="may feed")
    def feeds(self, obj):
        return ", ".join(s.slug for s in obj.services.all()) or "nothing (no service allowed)"

    @admin.display(description="allowed, but its account lacks 'declare' (signals refused)")
    def declare_missing(self, obj):
        if obj.pk is None:
            return "—"
        return ", ".join(without_declare(obj)) or "—"

    @admin.display(description="secrets")
    def secret_count(self, obj):
        count = len(obj.secrets or [])
        note = " (rotation in progress)" if count > 1 else ""
        return f"{count}{note}; rotate with manage.py create_integration --rotate {obj.name}"


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "received_at",
        "integration",
        "external_id",
        "status",
        "attempts",
        "processed_at",
        "short_outcome",
    )
    list_filter = ("status", "integration")
    search_fields = ("external_id", "outcome", "integration__name")
    list_select_related = ("integration",)
    date_hierarchy = "received_at"
    fields = (
        ("integration", "external_id", "status"),
        ("received_at", "processed_at", "attempts"),
        "outcome_text",
        "headers",
        "body",
    )
    readonly_fields = (
        "integration",
        "external_id",
        "status",
        "received_at",
        "processed_at",
        "attempts",
        "outcome_text",
        "headers",
        "body",
    )

    @admin.display(description="outcome")
    def short_outcome(self, obj):
        first = (obj.outcome or "").splitlines()[:1]
        return (
            (first[0][:120] + (" …" if len(obj.outcome) > len(first[0]) else "")) if first else ""
        )

    @admin.display(description="outcome")
    def outcome_text(self, obj):
        return format_html('<pre class="wrapped">{}</pre>', obj.outcome or "—")
