"""Sign-in through the organisation's provider: mozilla-django-oidc's views, given the
endpoints from discovery, and a clear page (never a 500) whenever the provider cannot help."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import SuspiciousOperation
from django.shortcuts import render
from django.urls import reverse
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from audit.actions import IDENTITY_SIGN_IN_REFUSED
from audit.services import record_event
from failover.clients import client_address
from identity import oidc
from identity.stepup import clear_failures

logger = logging.getLogger(__name__)


def error_page(request, title: str, reason: str, *, status: int, retry: bool = False, back=""):
    context = {
        "title": title,
        "reason": reason,
        "retry_url": reverse("oidc_authentication_init") if retry else "",
        "back_url": back,
    }
    return render(request, "identity/sso_error.html", context, status=status)


def unavailable(request, exc: Exception, **kwargs):
    logger.warning("OIDC provider unavailable: %r", exc.__cause__ or exc)
    return error_page(
        request,
        f"{oidc.provider_name()} is not answering",
        f"Signing in through {oidc.provider_name()} is not possible right now ({exc}). "
        "Try again in a moment; if it lasts, tell your administrator.",
        status=503,
        **kwargs,
    )


def not_configured(request):
    return error_page(
        request,
        "Single sign-on is not set up",
        "This installation has no identity provider.",
        status=404,
    )


class SignInView(OIDCAuthenticationRequestView):
    """GET oidc/authenticate/?next=...: off to the provider (PKCE, state and nonce)."""

    def __init__(self, *args, **kwargs):
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)  # no settings yet

    def get(self, request):
        if not oidc.configured():
            return not_configured(request)
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc.discovery()["authorization_endpoint"]
        except oidc.ProviderUnavailable as exc:
            return unavailable(request, exc, retry=True)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """GET oidc/callback/?code=...&state=...: the provider's answer, checked and signed in."""

    refusal = ""

    @property
    def success_url(self):
        # The safe `next` the sign-in started with (checked by mozilla-django-oidc), else home.
        return self.request.session.get("oidc_login_next") or reverse("dashboard")

    def get(self, request):
        if not oidc.configured():
            return not_configured(request)
        if request.GET.get("error"):
            reason = request.GET.get("error_description") or request.GET["error"]
            self.refusal = f"{oidc.provider_name()} did not sign you in: {reason[:300]}"
        try:
            return super().get(request)
        except oidc.ProviderUnavailable as exc:
            return unavailable(request, exc, retry=True)
        except oidc.SignInRefused as exc:
            # Only after the provider vouched for someone: forged callbacks write nothing.
            record_event(
                action=IDENTITY_SIGN_IN_REFUSED,
                object_type="auth.user",
                actor=None,
                data={"method": "oidc", "reason": str(exc)[:300], "ip": client_address(request)},
            )
            self.refusal = str(exc)
            return self.login_failure()
        except SuspiciousOperation:
            self.refusal = (
                "The provider's answer did not match a sign-in started here. Start again."
            )
            return self.login_failure()

    def login_success(self):
        response = super().login_success()
        clear_failures(self.user)  # signing in again is how a locked step-up is unlocked
        return response

    def login_failure(self):
        if self.request.user.is_authenticated:
            logout(self.request)
        reason = self.refusal or (
            "The sign-in did not complete (it may have been started in another tab, or taken "
            "too long). Start again."
        )
        return error_page(self.request, "You are not signed in", reason, status=403, retry=True)
