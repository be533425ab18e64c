"""The person's security page (/account/security/): their passkeys (add, rename, remove), and
their authenticator apps and recovery codes (the section of identity/codes.py). Also the
context every page gets for its step-up forms (`step_up_methods`)."""

from __future__ import annotations

from functools import cache

from failover.web.access import login_required
from failover.web.views.common import page
from identity import oidc, passkeys
from identity.codes import codes_context
from identity.stepup import local_passwords_enabled, methods_for


def step_up_context(request) -> dict:
    """`step_up_methods`: how the signed-in person can confirm an act, computed only when a
    template asks (most pages have no step-up form)."""
    user = getattr(request, "user", None)

    @cache
    def methods() -> list[str]:
        if user is None or not user.is_authenticated:
            return []
        return methods_for(user)

    return {
        "step_up_methods": methods,
        "step_up_provider_name": oidc.provider_name(),
    }


def security_context(request, **extra) -> dict:
    user = request.user
    methods = methods_for(user)
    return {
        "passkeys": list(user.passkeys.all()),
        "methods": methods,
        "can_confirm": bool(methods),
        "has_password": local_passwords_enabled() and user.has_usable_password(),
        **codes_context(user),  # the authenticator app and recovery codes section
        # Opened at another address than the one passkeys are made for: say where to go.
        "passkey_home": None
        if request.build_absolute_uri("/").rstrip("/") in passkeys.origins()
        else passkeys.origins()[0],
        "step_up_act": "add_passkey",
        "step_up_target": f"user:{user.pk}",
        **extra,
    }


@login_required
def security_page(request):
    return page(request, "identity/security.html", security_context(request), nav="security")
