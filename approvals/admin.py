from django.contrib import admin

from approvals.models import Decision, Policy
from audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin


@admin.register(Policy)
class PolicyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "service",
        "required_availability",
        "required_identity",
        "require_comms_sign_off",
        "approval_validity_minutes",
        "execute_on_approval",
    )
    list_filter = ("require_comms_sign_off", "execute_on_approval")
    search_fields = ("service__slug", "service__name")
    list_select_related = ("service",)


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Decisions are made on the request (web, API); here they are only read."""

    list_display = ("created_at", "request", "actor", "kind", "role", "channel")
    list_filter = ("kind", "role", "channel")
    search_fields = ("actor__username", "comment", "plan_hash", "request__incident_ref")
    list_select_related = (
        "request__service",
        "request__to_target",
        "request__from_target",
        "actor",
    )
    date_hierarchy = "created_at"
