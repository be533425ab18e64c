from django.contrib import admin

from approvals.models import (
    ApiToken,
    BreakGlass,
    BreakGlassReview,
    Decision,
    Policy,
    ServiceAccount,
)
from approvals.tokens import revoke_token
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
        "break_glass_minutes",
        "drill_every_days",
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


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Lists tokens and revokes them; a token is minted (and shown once) on its person's tokens
    page or, reading and declaring only, by create_token."""

    list_display = (
        "name",
        "user",
        "prefix",
        "created_at",
        "expires_at",
        "stepped_up_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "services",
        "actions",
        "created_at",
        "created_by",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "stepped_up_at",
        "rotated_from",
    )
    exclude = ("digest",)
    actions = ["revoke_selected"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        return request.user.has_perm("approvals.change_apitoken")

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        for token in queryset:
            revoke_token(token=token, actor=request.user)
        self.message_user(request, f"{queryset.count()} token(s) revoked.")


@admin.register(ServiceAccount)
class ServiceAccountAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("user", "description", "created_at")
    search_fields = ("user__username", "description")


class BreakGlassReviewInline(admin.TabularInline):
    model = BreakGlassReview
    fields = ("created_at", "reviewer", "holds_approve_identity", "comment")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BreakGlass)
class BreakGlassAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Break-glass uses are made on the request (web, API) and reviewed there; here only read."""

    list_display = ("created_at", "request", "actor", "expires_at", "review_closed_at")
    list_filter = (("review_closed_at", admin.EmptyFieldListFilter),)
    search_fields = ("actor__username", "justification", "veto_justification")
    list_select_related = (
        "request__service",
        "request__from_target",
        "request__to_target",
        "actor",
    )
    date_hierarchy = "created_at"
    inlines = [BreakGlassReviewInline]


@admin.register(BreakGlassReview)
class BreakGlassReviewAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "break_glass", "reviewer", "holds_approve_identity")
    list_filter = ("holds_approve_identity",)
    search_fields = ("reviewer__username", "comment")
    list_select_related = ("break_glass__actor", "reviewer")
