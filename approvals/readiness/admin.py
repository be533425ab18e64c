from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from approvals.readiness.models import IdentityDrillClient, ReadinessCheck, SecretAttestation
from audit.actions import CONFIG_CHANGED, CONFIG_CREATED
from audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from audit.services import record_event


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


class IdentityDrillClientForm(forms.ModelForm):
    # Write-only: the secret is stored encrypted and never shown again.
    new_client_secret = forms.CharField(
        label="New client secret",
        required=False,
        strip=True,
        max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="The drill client's secret at the target's identity provider. Leave empty to "
        "keep the current one; it is stored encrypted and never shown again.",
    )

    class Meta:
        model = IdentityDrillClient
        fields = ("target", "client_id", "audience", "scope", "expected_certificate_sha256")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        has_secret = cleaned.get("new_client_secret") or self.instance.has_secret
        if cleaned.get("client_id") and not has_secret:
            self.add_error("new_client_secret", "a drill client signs in with a secret: set one")
        if cleaned.get("client_id") and not cleaned.get("audience"):
            self.add_error("audience", "say which audience the drill's token must carry")
        return cleaned

    def save(self, commit: bool = True) -> IdentityDrillClient:
        if self.cleaned_data.get("new_client_secret"):
            self.instance.set_client_secret(self.cleaned_data["new_client_secret"])
        return super().save(commit)


@admin.register(IdentityDrillClient)
class IdentityDrillClientAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """What the identity drill signs in with and expects at a target (issue 17); the checks
    run in a drill or with `manage.py identity_check SERVICE TARGET`."""

    form = IdentityDrillClientForm
    list_display = ("target", "client_id", "audience", "secret_status", "updated_at")
    search_fields = ("target__service__slug", "target__name", "client_id", "audience")
    list_select_related = ("target__service",)
    readonly_fields = ("secret_status",)
    fields = (
        "target",
        "client_id",
        "secret_status",
        "new_client_secret",
        "audience",
        "scope",
        "expected_certificate_sha256",
    )

    @admin.display(description="client secret")
    def secret_status(self, obj: IdentityDrillClient) -> str:
        return "set" if obj.has_secret else "not set"

    def save_model(
        self, request: HttpRequest, obj: IdentityDrillClient, form: forms.ModelForm, change: bool
    ) -> None:
        # Not the mixin's snapshot: which fields changed is recorded, the secret only as
        # "replaced" (deletes are audited by the mixin).
        admin.ModelAdmin.save_model(self, request, obj, form, change)
        changed = list(form.changed_data)
        if change and not changed:
            return
        fields = {
            name: "replaced" if name == "new_client_secret" else str(getattr(obj, name, ""))
            for name in changed
        }
        record_event(
            action=CONFIG_CHANGED if change else CONFIG_CREATED,
            obj=obj,
            actor=request.user,
            data={"object": str(obj), "fields": fields},
        )
