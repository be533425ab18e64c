from django.contrib import admin, messages
from django.db import models
from django.http import Http404
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from guardian.admin import GuardedModelAdmin

from approvals.gate import may_go_out
from approvals.models import Decision, Policy
from approvals.selectors import verdict_for
from audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from dnsproviders.admin import changes_table
from dnsproviders.models import DnsChange, RollbackCheck
from failover.chain import authority_chain
from failover.errors import ServiceError
from failover.models import (
    FailoverRequest,
    GovernedRecord,
    RecordValue,
    Service,
    Signal,
    Target,
    Threshold,
)
from failover.services import cancel_request

HTTPS_URLS = {models.URLField: {"assume_scheme": "https"}}


class TargetInline(admin.StackedInline):
    model = Target
    extra = 0
    formfield_overrides = HTTPS_URLS
    fields = (
        ("name", "role", "active"),
        ("address", "region", "cloud_account"),
        ("oidc_issuer", "certificate_trust"),
        ("certificate_hostnames", "secret_store"),
        ("data_residency_region", "health_url"),
    )


class ThresholdInline(admin.TabularInline):
    model = Threshold
    extra = 0


class PolicyInline(admin.StackedInline):
    model = Policy
    can_delete = False
    fields = (
        ("required_availability", "required_identity", "require_comms_sign_off"),
        ("approval_validity_minutes", "request_ttl_minutes", "signal_window_minutes"),
        ("execute_on_approval", "break_glass_minutes"),
        ("drill_every_days", "drill_target", "drill_window_days"),
    )


def chain_table(service: Service) -> str:
    chain = authority_chain(service)
    rows = format_html_join(
        "",
        "<tr><td>{}{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                entry.label,
                " (required)" if entry.required else "",
                "; ".join(f"{g} ({', '.join(m) or 'no active members'})" for g, m in entry.groups)
                or "—",
                ", ".join(entry.users) or "—",
            )
            for entry in chain.entries
        ),
    )
    status = (
        mark_safe('<p class="chain-complete"><strong>Chain complete.</strong></p>')
        if chain.complete
        else format_html(
            '<p class="chain-missing"><strong>Chain incomplete — no holder for: {}.</strong> '
            "This service cannot be failed over.</p>",
            ", ".join(chain.missing),
        )
    )
    return format_html(
        "{}<table><thead><tr><th>Authority</th><th>Groups (members)</th><th>People</th></tr>"
        "</thead><tbody>{}</tbody></table><p>Grant or revoke with “Object permissions” above.</p>",
        status,
        rows,
    )


def _an_id(raw) -> str:
    if not (str(raw).isascii() and str(raw).isdigit()):
        raise Http404("no such object")
    return raw


@admin.register(Service)
class ServiceAdmin(AuditedAdminMixin, GuardedModelAdmin):
    list_display = ("slug", "name", "governance_mode", "data_residency_region", "chain_status")
    list_filter = ("governance_mode", "data_residency_region")
    search_fields = ("slug", "name", "description")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("authority_chain",)
    inlines = [PolicyInline, TargetInline, ThresholdInline]

    # guardian's permission pages look the object up by whatever the URL holds: a word where
    # an id belongs was a 500, not a 404.
    def obj_perms_manage_view(self, request, object_pk):
        return super().obj_perms_manage_view(request, _an_id(object_pk))

    def obj_perms_manage_user_view(self, request, object_pk, user_id):
        return super().obj_perms_manage_user_view(request, _an_id(object_pk), _an_id(user_id))

    def obj_perms_manage_group_view(self, request, object_pk, group_id):
        return super().obj_perms_manage_group_view(request, _an_id(object_pk), _an_id(group_id))

    fieldsets = (
        (None, {"fields": ("slug", "name", "description", "governance_mode")}),
        ("Data and customers", {"fields": ("data_residency_region", "customer_segments")}),
        ("Authority chain", {"fields": ("authority_chain",)}),
    )

    @admin.display(description="authority chain")
    def authority_chain(self, obj):
        return chain_table(obj) if obj.pk else "Save the service first."

    @admin.display(description="chain")
    def chain_status(self, obj):
        missing = authority_chain(obj).missing
        if not missing:
            return mark_safe('<span class="chain-complete">complete</span>')
        return format_html('<span class="chain-missing">missing {}</span>', ", ".join(missing))


class RecordValueInline(admin.TabularInline):
    model = RecordValue
    extra = 0


@admin.register(GovernedRecord)
class GovernedRecordAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "rtype", "routing", "set_identifier", "service", "provider_account")
    list_filter = ("routing", "rtype", "provider_account", "service")
    search_fields = ("name", "zone", "set_identifier", "service__slug")
    list_select_related = ("service", "provider_account")
    inlines = [RecordValueInline]


@admin.register(Threshold)
class ThresholdAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("service", "metric", "comparison", "value", "description")
    list_filter = ("metric", "comparison")
    search_fields = ("service__slug", "description")
    list_select_related = ("service",)


@admin.register(RecordValue)
class RecordValueAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("record", "target", "values")
    list_filter = ("target__name",)
    search_fields = ("record__name", "target__name", "target__service__slug")
    list_select_related = ("record", "target")


@admin.register(Target)
class TargetAdmin(AuditedAdminMixin, admin.ModelAdmin):
    formfield_overrides = HTTPS_URLS
    list_display = ("name", "service", "role", "active", "region", "data_residency_region")
    list_filter = ("role", "active", "data_residency_region")
    search_fields = ("name", "address", "service__slug", "oidc_issuer")
    list_select_related = ("service",)


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("received_at", "service", "metric", "value", "status", "source")
    list_filter = ("status", "metric", "source")
    search_fields = ("service__slug", "external_id", "summary")
    list_select_related = ("service",)
    date_hierarchy = "received_at"


class DecisionInline(admin.TabularInline):
    model = Decision
    fk_name = "request"
    extra = 0
    can_delete = False
    fields = ("created_at", "actor", "kind", "role", "plan_hash", "comment", "channel", "lifts")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class DnsChangeInline(admin.TabularInline):
    model = DnsChange
    extra = 0
    can_delete = False
    fields = (
        "direction",
        "zone",
        "status",
        "provider_change_id",
        "attempts",
        "error",
        "submitted_at",
        "verified_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class RollbackCheckInline(admin.TabularInline):
    model = RollbackCheck
    extra = 0
    can_delete = False
    fields = ("due_at", "evaluated_at", "met", "result")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(FailoverRequest)
class FailoverRequestAdmin(admin.ModelAdmin):
    """Read-only: requests move only through the services layer (declare, decide, cancel)."""

    list_display = (
        "id",
        "service",
        "to_target",
        "state",
        "requester",
        "incident_ref",
        "created_at",
    )
    list_filter = ("state", "service")
    search_fields = ("incident_ref", "reason", "service__slug", "requester__username")
    list_select_related = ("service", "to_target", "requester")
    date_hierarchy = "created_at"
    inlines = [DecisionInline, DnsChangeInline, RollbackCheckInline]
    # Executing, rolling back and re-planning (which clears a registry-changed block) need
    # step-up, which the request page and the API ask for; the admin offers none of them
    # (invariant 13).
    actions = ["cancel_selected"]
    fields = (
        ("service", "state"),
        ("from_target", "to_target", "segment"),
        ("requester", "incident_ref"),
        "reason",
        "governance",
        "plan_diff",
        "plan_hash",
        "rollback_criteria",
        ("created_at", "approved_at", "expires_at", "ended_at"),
        ("applied_at", "rollback_proposed_at", "rollback_deadline_at"),
    )
    readonly_fields = (
        "service",
        "state",
        "from_target",
        "to_target",
        "segment",
        "requester",
        "incident_ref",
        "reason",
        "governance",
        "plan_diff",
        "plan_hash",
        "rollback_criteria",
        "created_at",
        "approved_at",
        "expires_at",
        "ended_at",
        "applied_at",
        "rollback_proposed_at",
        "rollback_deadline_at",
    )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="plan (before → after)")
    def plan_diff(self, obj):
        return changes_table(obj.plan.get("changes", []))

    @admin.display(description="governance")
    def governance(self, obj):
        verdict = verdict_for(obj)
        missing = ", ".join(f"{m.role} ({m.have}/{m.needed})" for m in verdict.missing) or "nothing"
        blocks = format_html_join("", "<li>{}</li>", ((b.reason,) for b in verdict.blocked_by))
        changes = format_html_join("", "<li>{}</li>", ((c,) for c in verdict.auth_changes))
        return format_html(
            "<p><strong>Still missing:</strong> {}</p>"
            "<p><strong>Blocked by:</strong></p><ul>{}</ul>"
            "<p><strong>Authentication / residency changes:</strong></p><ul>{}</ul>"
            "<p><strong>May execute now:</strong> {}</p>",
            missing,
            blocks or mark_safe("<li>nothing</li>"),
            changes or mark_safe("<li>none</li>"),
            "yes" if may_go_out(obj, verdict=verdict) else "no",
        )

    def _run(self, request, queryset, action, verb):
        for obj in queryset:
            try:
                action(actor=request.user, request_id=obj.pk)
                self.message_user(request, f"#{obj.pk} {verb}.", messages.SUCCESS)
            except ServiceError as exc:
                self.message_user(request, f"#{obj.pk}: {exc.message}", messages.ERROR)

    @admin.action(description="Cancel selected requests")
    def cancel_selected(self, request, queryset):
        self._run(request, queryset, cancel_request, "cancelled")

    def save_model(self, request, obj, form, change):
        raise PermissionError("failover requests change only through their actions")
