"""Admin pages for notification endpoints (secret write-only) and the outbox (read-only)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from audit.services import record_event
from failover.models import Notification, NotificationEndpoint
from failover.notify.payloads import EVENTS, redacted_url
from failover.secrets import encrypt


class EndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=[(e, e.replace("_", " ")) for e in EVENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked means every event.",
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
        fields = ("service", "name", "url", "format", "events", "active")

    def clean_url(self):
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("use an http:// or https:// URL")
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
        if self.cleaned_data.get("new_secret"):
            self.instance.secret = encrypt(self.cleaned_data["new_secret"])
        return super().save(commit)


@admin.register(NotificationEndpoint)
class NotificationEndpointAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = EndpointForm
    list_display = ("name", "service", "format", "where", "subscribed", "active", "secret_status")
    list_filter = ("format", "active", "service")
    search_fields = ("name", "service__slug", "url")
    list_select_related = ("service",)
    readonly_fields = ("secret_status",)
    fields = ("service", "name", "url", "format", "events", "active", "secret_status", "new_secret")

    @admin.display(description="URL")
    def where(self, obj):
        return redacted_url(obj.url)

    @admin.display(description="events")
    def subscribed(self, obj):
        return ", ".join(obj.events) if obj.events else "every event"

    @admin.display(description="signing secret")
    def secret_status(self, obj):
        return "set" if obj.secret else "not set"

    def save_model(self, request, obj, form, change):
        # Not the mixin's snapshot: it would copy the URL (for Slack, a credential) into the
        # audit log. Record which fields changed, with the URL reduced to its host.
        admin.ModelAdmin.save_model(self, request, obj, form, change)
        changed = list(form.changed_data)
        if change and not changed:
            return
        shown = {
            "url": lambda: redacted_url(obj.url),
            "new_secret": lambda: "replaced",
        }
        record_event(
            action="config.changed" if change else "config.created",
            obj=obj,
            actor=request.user,
            data={
                "object": str(obj),
                "fields": {
                    name: shown[name]() if name in shown else str(getattr(obj, name, ""))
                    for name in changed
                },
            },
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
        ("status", "attempts"),
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
        "created_at",
        "sent_at",
        "last_error",
        "body",
    )

    @admin.display(description="body sent")
    def body(self, obj):
        text = json.dumps(obj.payload.get("body", {}), indent=2, ensure_ascii=False)
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", text)
