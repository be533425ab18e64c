from django.contrib import admin

from approvals.readiness.models import ReadinessCheck, SecretAttestation
from audit.admin_mixins import ReadOnlyAdminMixin


@admin.register(ReadinessCheck)
class ReadinessCheckAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Evidence written by the checks; a system veto is lifted on the request page or API,
    where the `veto` authority and a reason are required."""

    list_display = ("request", "kind", "ok", "identity_critical", "checked_at", "lifted_by")
    list_filter = ("kind", "ok", "identity_critical")
    search_fields = ("request__service__slug", "request__incident_ref", "reason")
    list_select_related = (
        "request__service",
        "request__from_target",
        "request__to_target",
        "lifted_by",
    )
    date_hierarchy = "checked_at"


@admin.register(SecretAttestation)
class SecretAttestationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Recorded by identity leads (request page or API), who must hold `approve_identity`."""

    list_display = ("target", "secret_name", "rotated_at", "attested_by", "created_at")
    list_filter = ("secret_name",)
    search_fields = ("target__service__slug", "target__name", "secret_name")
    list_select_related = ("target__service", "attested_by")
