"""Admin pages for notification endpoints (URL and secret write-only) and the outbox
(read-only)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from audit.actions import CONFIG_CHANGED, CONFIG_CREATED
from audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from audit.services import record_event
from failover.notify.models import Notification, NotificationEndpoint
from failover.notify.payloads import EVENTS
from failover.secrets import encrypt


class EndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=[(e, e.replace("_", " ")) for e in EVENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked means every event.",
    )
    # Write-only like the secret: a Slack incoming-webhook URL is itself a credential.
    new_url = forms.CharField(
        label="New URL",
        required=False,
        strip=True,
        max_length=NotificationEndpoint.MAX_URL_LENGTH,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="The webhook URL (http:// or https://). Leave empty to keep the current "
        "one; it is stored encrypted and only its host is ever shown.",
    )
    new_secret = forms.CharField(
        label="New signing secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="HMAC key for generic endpoints. Leave empty to keep the current one; "
        "it is stored encrypted and never shown again.",
    )

    class Meta:
        model = NotificationEndpoint
        fields = ("service", "name", "format", "events", "active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.fields["new_url"].required = True
            self.fields["new_url"].help_text = (
                "The webhook URL (http:// or https://). It is stored encrypted and only its "
                "host is ever shown."
            )

    def clean_new_url(self):
        url = self.cleaned_data["new_url"]
        if url:
            NotificationEndpoint.display_url(url)  # ValidationError that never quotes it
        return url

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("format") == NotificationEndpoint.Format.GENERIC
            and not cleaned.get("new_secret")
            and not self.instance.secret
        ):
            self.add_error("new_secret", "a generic endpoint signs with a secret: set one")
        return cleaned

    def save(self, commit=True):
        if self.cleaned_data.get("new_url"):
            self.instance.set_url(self.cleaned_data["new_url"])
        if self.cleaned_data.get("new_secret"):
            self.instance.secret = encrypt(self.cleaned_data["new_secret"])
        return super().save(commit)


@admin.register(NotificationEndpoint)
class NotificationEndpointAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = EndpointForm
    list_display = ("name", "service", "format", "where", "subscribed", "active", "secret_status")
    list_filter = ("format", "active", "service")
    search_fields = ("name", "service__slug", "url_display")
    list_select_related = ("service",)
    readonly_fields = ("where", "secret_status")
    fields = (
        "service",
        "name",
        "where",
        "new_url",
        "format",
        "events",
        "active",
        "secret_status",
        "new_secret",
    )

    @admin.display(description="URL (host only)")
    def where(self, obj):
        return obj.url_display or "not set"

    @admin.display(description="events")
    def subscribed(self, obj):
        return ", ".join(obj.events) if obj.events else "every event"

    @admin.display(description="signing secret")
    def secret_status(self, obj):
        return "set" if obj.secret else "not set"

    def save_model(self, request, obj, form, change):
        # Not the mixin's snapshot: the URL (for Slack, a credential) and the secret stay out
        # of the audit log. Record which fields changed, the URL reduced to its host.
        admin.ModelAdmin.save_model(self, request, obj, form, change)
        changed = list(form.changed_data)
        if change and not changed:
            return
        fields = {}
        for name in changed:
            if name == "new_url":
                fields["url"] = obj.url_display
            elif name == "new_secret":
                fields[name] = "replaced"
            else:
                fields[name] = str(getattr(obj, name, ""))
        record_event(
            action=CONFIG_CHANGED if change else CONFIG_CREATED,
            obj=obj,
            actor=request.user,
            data={"object": str(obj), "fields": fields},
        )


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "event",
        "endpoint",
        "request_id",
        "status",
        "attempts",
        "sent_at",
    )
    list_filter = ("status", "event", "endpoint__format")
    search_fields = ("event", "endpoint__name", "endpoint__service__slug", "last_error")
    list_select_related = ("endpoint__service",)
    date_hierarchy = "created_at"
    fields = (
        ("endpoint", "event", "request"),
        ("status", "attempts", "next_attempt_at"),
        ("created_at", "sent_at"),
        "last_error",
        "body",
    )
    readonly_fields = (
        "endpoint",
        "event",
        "request",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "sent_at",
        "last_error",
        "body",
    )

    @admin.display(description="body sent")
    def body(self, obj):
        text = json.dumps(obj.payload.get("body", {}), indent=2, ensure_ascii=False)
        return format_html('<pre class="wrapped">{}</pre>', text)
