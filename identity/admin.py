"""Identity in the admin: passkeys, step-up proofs and identities are evidence (read-only);
authenticator apps are listed without their keys; credential resets follow the two-admin rule
of identity/resets.py (request here, a different administrator approves with the action)."""

from __future__ import annotations

import contextlib

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.admin_mixins import ReadOnlyAdminMixin
from identity import resets
from identity.models import CredentialReset, ExternalIdentity, Passkey, StepUpProof


@admin.register(Passkey)
class PasskeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "name", "created_at", "last_used_at", "sign_count")
    search_fields = ("user__username", "name", "credential_id")
    exclude = ("public_key",)


@admin.register(StepUpProof)
class StepUpProofAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "user", "method", "act", "target", "device", "used_at")
    list_filter = ("method", "act")
    search_fields = ("user__username", "target", "plan_hash", "nonce")


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "subject", "issuer", "last_sign_in_at")
    search_fields = ("user__username", "subject")


# django-otp's own admins edit devices and show a TOTP key: here a lost device goes through the
# two-admin reset instead, and a key never leaves the enrolment page.
for model in (TOTPDevice, StaticDevice):
    with contextlib.suppress(NotRegistered):
        admin.site.unregister(model)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    search_fields = ("user__username", "name")
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")


class RequestForm(forms.ModelForm):
    """The request: who and why. The rules (not yourself, one pending at a time) are checked
    here so a refusal is a form error, not an error page."""

    class Meta:
        model = CredentialReset
        fields = ("user", "reason")

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor

    def clean(self):
        data = super().clean()
        if "user" in data:
            try:
                data["reason"] = resets.check_request(
                    actor=self.actor, user=data["user"], reason=data.get("reason", "")
                )
            except resets.ResetError as exc:
                raise ValidationError(exc.message) from None
        return data


@admin.register(CredentialReset)
class CredentialResetAdmin(admin.ModelAdmin):
    list_display = ("user", "status", "requested_by", "requested_at", "approved_by", "approved_at")
    list_select_related = ("user", "requested_by", "approved_by")
    search_fields = ("user__username", "requested_by__username", "approved_by__username")
    readonly_fields = ("status", "credentials", "requested_by", "requested_at")
    actions = ["approve_selected"]
    autocomplete_fields = ()

    # Administrators in the sense of identity/resets.py; nobody edits or deletes a reset.
    def has_module_permission(self, request):
        return resets.can_administer(request.user)

    def has_view_permission(self, request, obj=None):
        return resets.can_administer(request.user)

    def has_add_permission(self, request):
        return resets.can_administer(request.user)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:  # viewing: every field read-only
            return super().get_form(request, obj, change=change, **kwargs)
        kwargs["form"] = RequestForm
        form = super().get_form(request, obj, change=change, **kwargs)

        class WithActor(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, actor=request.user, **inner)

        return WithActor

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "reason")
        return (
            "user",
            "status",
            "credentials",
            "reason",
            "requested_by",
            "requested_at",
            "approved_by",
            "approved_at",
        )

    @admin.display(description="status")
    def status(self, obj):
        return {"pending": "waiting for a second administrator", "done": "approved: removed"}.get(
            resets.state(obj), "expired"
        )

    @admin.display(description="credentials now")
    def credentials(self, obj):
        return ", ".join(
            f"{n} {k.replace('_', ' ')}" for k, n in resets.credentials_of(obj.user).items()
        )

    def save_model(self, request, obj, form, change):
        # The rules module writes the row and its audit event; the admin only shows it.
        created = resets.request_reset(
            actor=request.user, user=form.cleaned_data["user"], reason=form.cleaned_data["reason"]
        )
        obj.pk = created.pk
        obj.requested_at = created.requested_at

    def log_addition(self, request, obj, message):
        pass  # audited by identity/resets.py (the admin log would be a second, weaker record)

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except resets.ResetError as exc:  # a race past the form's check: say so, keep going
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.path)

    @admin.action(description="Approve the selected resets (removes the credentials)")
    def approve_selected(self, request, queryset):
        for reset in queryset:
            try:
                done = resets.approve_reset(actor=request.user, reset_id=reset.pk)
            except resets.ResetError as exc:
                self.message_user(request, f"{reset.user}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{done.user}: credentials removed (requested by {done.requested_by}, "
                    f"approved by you).",
                    messages.SUCCESS,
                )
