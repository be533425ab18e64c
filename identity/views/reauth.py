"""Re-authenticating at the identity provider to confirm one act (prompt=login, max_age=0):
the round trip whose proof identity/provider_stepup.py spends.

The request page sends the person to `step-up/provider/?act=..&target=..&plan_hash=..&next=..`,
the provider asks for their password (or whatever it asks) again, and the callback checks the
ID token (signature, issuer, audience, nonce), that it is this person (`sub`) and that they
authenticated just now (`auth_time` within MAX_AUTH_AGE). It then stores an unused StepUpProof
bound to the act, the object and the plan, and returns to the page with
`step_up_provider=<nonce>`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from audit.actions import IDENTITY_PROVIDER_REAUTHENTICATED
from audit.services import record_event
from identity import oidc, provider_stepup
from identity.models import StepUpProof
from identity.views.sso import error_page, unavailable

MAX_AUTH_AGE = 120  # seconds between the password at the provider and the callback
SESSION_KEY = "provider_step_up"
FIELD_LIMITS = {"act": 30, "target": 100, "plan_hash": 64}


def _error(request: HttpRequest, reason: str, *, status: int, back: str = "") -> HttpResponse:
    return error_page(
        request, "Not confirmed", reason, status=status, back=back or reverse("dashboard")
    )


def _safe_next(request: HttpRequest, value: str) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return reverse("dashboard")


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({name: value})) if q)
    return urlunsplit(parts._replace(query=query))


@login_required
def start(request: HttpRequest) -> HttpResponse:
    """GET step-up/provider/?act&target&plan_hash&next: off to the provider to sign in again."""
    values = {name: request.GET.get(name, "") for name in FIELD_LIMITS}
    back = _safe_next(request, request.GET.get("next", ""))
    if not values["act"]:
        return _error(request, "Say which act to confirm (act).", status=400, back=back)
    if too_long := [n for n, limit in FIELD_LIMITS.items() if len(values[n]) > limit]:
        return _error(request, f"Too long: {', '.join(too_long)}.", status=400, back=back)
    if not provider_stepup.available(request.user):
        return _error(
            request,
            f"You have no identity at {oidc.provider_name()} to confirm with.",
            status=400,
            back=back,
        )
    try:
        endpoint = oidc.discovery()["authorization_endpoint"]
    except oidc.ProviderUnavailable as exc:
        return unavailable(request, exc, back=back)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    pending = request.session.get(SESSION_KEY, {})
    # A few at most: a person may open several confirmations in several tabs.
    pending = dict(list(pending.items())[-4:])
    pending[state] = {**values, "next": back, "nonce": nonce, "verifier": verifier}
    request.session[SESSION_KEY] = pending
    params = {
        "response_type": "code",
        "client_id": settings.OIDC_CLIENT_ID,
        "redirect_uri": request.build_absolute_uri(reverse("identity-provider-step-up-callback")),
        "scope": "openid",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
        "prompt": "login",
        "max_age": "0",
    }
    return redirect(f"{endpoint}?{urlencode(params)}")


@login_required
def callback(request: HttpRequest) -> HttpResponse:
    """The provider's answer: checked, then an unused proof bound to the act, and back."""
    pending = request.session.get(SESSION_KEY, {})
    binding = pending.pop(request.GET.get("state", ""), None)
    request.session[SESSION_KEY] = pending
    if binding is None:
        return _error(
            request,
            "This confirmation was not started here (or was already answered).",
            status=400,
        )
    back = binding["next"]
    if request.GET.get("error"):
        reason = request.GET.get("error_description") or request.GET["error"]
        return _error(request, f"{oidc.provider_name()}: {reason[:300]}", status=403, back=back)
    link = provider_stepup.linked_identity(request.user)
    try:
        token = oidc.token_endpoint_post(
            {
                "grant_type": "authorization_code",
                "code": request.GET.get("code", ""),
                "redirect_uri": request.build_absolute_uri(
                    reverse("identity-provider-step-up-callback")
                ),
                "code_verifier": binding["verifier"],
            }
        )
        claims = oidc.check_id_token(token.get("id_token", ""), binding["nonce"])
    except oidc.ProviderUnavailable as exc:
        return unavailable(request, exc, back=back)
    except oidc.SignInRefused as exc:
        return _error(request, str(exc), status=403, back=back)
    if link is None or claims.get("sub") != link.subject:
        return _error(
            request,
            f"You signed in at {oidc.provider_name()} as someone else: sign in as yourself.",
            status=403,
            back=back,
        )
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, int | float) or not (
        time.time() - MAX_AUTH_AGE <= auth_time <= time.time() + 30
    ):
        return _error(
            request,
            f"{oidc.provider_name()} did not ask for your sign-in again just now: try again.",
            status=403,
            back=back,
        )
    proof = StepUpProof.objects.create(
        user=request.user,
        method=StepUpProof.Method.PROVIDER,
        act=binding["act"],
        target=binding["target"],
        plan_hash=binding["plan_hash"],
        nonce=secrets.token_urlsafe(24),
        device=oidc.issuer(),
        used_at=None,
    )
    record_event(
        action=IDENTITY_PROVIDER_REAUTHENTICATED,
        obj=request.user,
        actor=request.user,
        data={**proof.summary(), "issuer": oidc.issuer(), "auth_time": int(auth_time)},
    )
    return redirect(_with_param(back, "step_up_provider", proof.nonce))
