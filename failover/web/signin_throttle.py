"""Sign-in throttling for the browser sign-in and the admin's.

Failed sign-ins are counted per username and per client address. The limit reached within the
lockout window locks sign-in for that username (or from that address) for the window, with the
right password too, so guessing cannot go on; every refusal is an audit event. The counters
live in the cache like the step-up lockout: shared by the web processes when CACHE_URL names
a shared cache (Redis), per process with the local-memory default.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache

from audit.services import record_event

SCOPES = {"username": "for this username", "address": "from your network address"}


@dataclass(frozen=True)
class Lockout:
    scope: str  # "username" or "address"
    retry_after: int  # seconds

    @property
    def message(self) -> str:
        minutes = math.ceil(self.retry_after / 60)
        return (
            f"Too many failed sign-ins {SCOPES[self.scope]}: signing in is locked for "
            f"{minutes} more minute{'s' if minutes != 1 else ''}. Nothing was checked."
        )


def client_address(request) -> str:
    if request is None:
        return ""
    if settings.SIGNIN_TRUST_X_FORWARDED_FOR:
        # The right-most entry is the one our proxy added; those left of it the client wrote.
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return forwarded[:100]
    return request.META.get("REMOTE_ADDR", "")


def _counters(username: str, address: str) -> list[tuple[str, str, int]]:
    """(scope, cache key stem, limit) of each counter an attempt counts against."""
    # Hashed: a username is any text a visitor types, and cache keys must stay short and plain.
    name = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    counters = [("username", f"signin:username:{name}", settings.SIGNIN_MAX_FAILURES_PER_USER)]
    if address:
        limit = settings.SIGNIN_MAX_FAILURES_PER_ADDRESS
        counters.append(("address", f"signin:address:{address}", limit))
    return [c for c in counters if c[2] > 0]  # a limit of 0 turns that counter off


def lockout(username: str, address: str) -> Lockout | None:
    now = time.time()
    for scope, stem, _ in _counters(username, address):
        until = cache.get(f"{stem}:locked-until")
        if until and until > now:
            return Lockout(scope, max(1, math.ceil(until - now)))
    return None


def record_failure(username: str, address: str) -> None:
    window = settings.SIGNIN_LOCKOUT_SECONDS
    for _, stem, limit in _counters(username, address):
        key = f"{stem}:failures"
        cache.add(key, 0, window)  # the window starts at the first failure
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, window)
            failures = 1
        if failures >= limit:
            cache.set(f"{stem}:locked-until", time.time() + window, window)
            cache.delete(key)


def record_success(username: str) -> None:
    """The right password ends the username's count; the address keeps its own."""
    for scope, stem, _ in _counters(username, ""):
        if scope == "username":
            cache.delete(f"{stem}:failures")


def _audit_refusal(request, username: str, found: Lockout) -> None:
    record_event(
        action="auth.sign_in_throttled",
        object_type="auth.user",
        object_id=username[:150],
        actor=None,
        data={
            "username": username[:150],
            "scope": found.scope,
            "retry_after": found.retry_after,
            "ip": client_address(request),
            "user_agent": (request.META.get("HTTP_USER_AGENT", "") if request else "")[:200],
        },
    )


class ThrottledSignInMixin:
    """For Django's authentication forms: refuse while locked out, count wrong passwords."""

    lockout: Lockout | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not (username and password):  # a missing field is not a guess: Django says what
            return super().clean()
        address = client_address(self.request)
        self.lockout = lockout(username, address)
        if self.lockout is not None:
            _audit_refusal(self.request, username, self.lockout)
            raise forms.ValidationError(self.lockout.message, code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if self.get_user() is None:  # not a staff account's refusal: a wrong password
                record_failure(username, address)
            raise
        record_success(username)
        return cleaned


class ThrottledAuthenticationForm(ThrottledSignInMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledSignInMixin, AdminAuthenticationForm):
    pass
