"""Sign-in throttling for the browser sign-in and the admin's.

Guessing must stay slow without letting anyone lock the owner of an account out:
- a username is locked at one client address after SIGNIN_MAX_FAILURES_PER_USER failures
  from there, for SIGNIN_LOCKOUT_SECONDS, with the right password too: an attacker elsewhere
  locks only their own address, never the owner at theirs;
- across addresses the username slows down instead: past that many failures each attempt
  waits longer after the last failure (1, 2, 4 ... seconds, at most SIGNIN_MAX_DELAY_SECONDS),
  except from an address the username signed in from before;
- an address slows down the same way past SIGNIN_MAX_FAILURES_PER_ADDRESS failures (a
  password sprayer), again except for a username that signed in from there before;
- failed attempts are audited at most once per window per username and address (per address
  for an address's slow-down): the event counts the wrong passwords and refused attempts
  since the previous one, so a flood of guesses is a few events, not one per guess.

The counters live in the shared cache (Redis in production); while it is down, in this process
(failover/degrade.py): limits loosen for the outage, sign-in keeps working.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import time
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import load_backend
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied

from audit.actions import AUTH_SIGN_IN_FAILED
from audit.services import record_event
from failover.clients import client_address
from failover.degrade import with_cache
from identity import stepup

KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600  # an address a username signed in from stays known


# --- the counters ----------------------------------------------------------------------------


def _digest(text: str) -> str:
    # Hashed: a username is any text a visitor types, and cache keys must stay short and plain.
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Keys:
    pair: str  # this username from this address
    username: str  # this username from anywhere
    address: str  # any username from this address
    known: str  # this username signed in from this address before

    @classmethod
    def of(cls, username: str, address: str) -> Keys:
        name, where = _digest(username.casefold()), _digest(address)
        return cls(
            pair=f"signin:pair:{name}:{where}",
            username=f"signin:username:{name}",
            address=f"signin:address:{where}",
            known=f"signin:known:{name}:{where}",
        )


SCOPES = {
    "pair": "for this username from your network address",
    "username": "for this username",
    "address": "from your network address",
}


@dataclass(frozen=True)
class Lockout:
    scope: str  # "pair" (locked), "username" or "address" (slowed down)
    retry_after: int  # seconds

    @property
    def message(self) -> str:
        if self.scope == "pair":
            minutes = math.ceil(self.retry_after / 60)
            wait = f"signing in from here is locked for {minutes} more minute"
            wait += "s" if minutes != 1 else ""
        else:
            seconds = self.retry_after
            wait = f"wait {seconds} second{'s' if seconds != 1 else ''} before trying again"
        return f"Too many failed sign-ins {SCOPES[self.scope]}: {wait}. Nothing was checked."


def _count(store, key: str, window: int) -> int:
    """One more in a count that lasts `window` seconds after its latest increment."""
    store.add(key, 0, window)
    try:
        count = store.incr(key)
    except ValueError:  # expired between add and incr
        store.set(key, 1, window)
        return 1
    store.touch(key, window)
    return count


def _delay(failures: int, free: int) -> int:
    """The wait after the latest failure: none within `free`, then 1, 2, 4 ... s, capped."""
    if free <= 0 or failures < free:
        return 0
    return min(2 ** min(failures - free, 30), settings.SIGNIN_MAX_DELAY_SECONDS)


def lockout(username: str, address: str) -> Lockout | None:
    keys = Keys.of(username, address)

    def read(store) -> Lockout | None:
        now = time.time()
        found = store.get_many(
            [f"{keys.pair}:until", f"{keys.username}:next", keys.known, f"{keys.address}:next"]
        )
        checks = [("pair", f"{keys.pair}:until")]
        if not found.get(keys.known):  # the owner's usual address is not slowed down
            checks += [("username", f"{keys.username}:next"), ("address", f"{keys.address}:next")]
        for scope, key in checks:
            until = found.get(key)
            if until and until > now:
                return Lockout(scope, max(1, math.ceil(until - now)))
        return None

    return with_cache(read)


def record_failure(username: str, address: str) -> None:
    keys = Keys.of(username, address)
    window = settings.SIGNIN_LOCKOUT_SECONDS

    def count(store) -> None:
        now = time.time()
        limit = settings.SIGNIN_MAX_FAILURES_PER_USER
        if limit > 0 and _count(store, f"{keys.pair}:failures", window) >= limit:
            store.set(f"{keys.pair}:until", now + window, window)
            store.delete(f"{keys.pair}:failures")
        for key, free in (
            (keys.username, limit),
            (keys.address, settings.SIGNIN_MAX_FAILURES_PER_ADDRESS if address else 0),
        ):
            wait = _delay(_count(store, f"{key}:failures", window), free)
            if wait:
                store.set(f"{key}:next", now + wait, wait)

    with_cache(count)


def record_success(user, username: str, address: str) -> None:
    """The right password ends this address's count for the username and makes the address
    known for it; the username's count elsewhere and the address's for others stay."""
    keys = Keys.of(username, address)

    def forget(store) -> None:
        store.delete_many([f"{keys.pair}:failures", f"{keys.pair}:until"])
        if address:
            store.set(keys.known, True, KNOWN_ADDRESS_SECONDS)

    with_cache(forget)
    stepup.clear_failures(user)  # signing in again is how a locked step-up is unlocked


# --- evidence --------------------------------------------------------------------------------


def _audit_failure(request, username: str, address: str, refused: Lockout | None) -> None:
    """Count the failed attempt; write an event if none was written for its key this window.

    An address's slow-down is audited per address (a sprayer's every new username would
    otherwise be an event); everything else per username and address."""
    keys = Keys.of(username, address)
    key = keys.address if refused is not None and refused.scope == "address" else keys.pair
    kind = "refused" if refused is not None else "bad_passwords"
    window = settings.SIGNIN_LOCKOUT_SECONDS

    def take_slot(store) -> dict | None:
        _count(store, f"{key}:unaudited:{kind}", window * 4)
        if not store.add(f"{key}:audited", True, window):
            return None
        return _take_counts(store, key)

    counts = with_cache(take_slot)
    if counts is not None:
        _record(request, username, address, counts, refused)


def _take_counts(store, key: str) -> dict:
    names = [f"{key}:unaudited:bad_passwords", f"{key}:unaudited:refused"]
    found = store.get_many(names)
    store.delete_many(names)
    return {
        "bad_passwords": int(found.get(names[0], 0)),
        "refused": int(found.get(names[1], 0)),
    }


def _flush_on_success(request, username: str, address: str) -> None:
    """Failures not yet in an event are written before the sign-in's own event: the count of
    wrong passwords that came before a success is evidence worth having."""
    key = Keys.of(username, address).pair
    counts = with_cache(lambda store: _take_counts(store, key))
    if counts["bad_passwords"] or counts["refused"]:
        _record(request, username, address, counts, None)


def _record(request, username: str, address: str, counts: dict, refused: Lockout | None):
    record_event(
        action=AUTH_SIGN_IN_FAILED,
        object_type="auth.user",
        object_id=username[:150],
        actor=None,
        data={
            "username": username[:150],
            "ip": address,
            "user_agent": (request.META.get("HTTP_USER_AGENT", "") if request else "")[:200],
            # Attempts since the previous event for this username and address.
            **counts,
            "last": f"refused ({refused.scope})" if refused else "bad password",
            "window_seconds": settings.SIGNIN_LOCKOUT_SECONDS,
        },
    )


# --- checking the password -------------------------------------------------------------------


def authenticate_quietly(request, username: str, password: str):
    """django.contrib.auth.authenticate() without its user_login_failed signal, whose receiver
    (audit/receivers.py) writes an event per wrong password: here failures are audited once per
    window (above). Same rules: each configured backend in turn, the first user found wins,
    PermissionDenied from a backend ends the search."""
    for path in settings.AUTHENTICATION_BACKENDS:
        backend = load_backend(path)
        try:
            inspect.signature(backend.authenticate).bind(
                request, username=username, password=password
            )
        except TypeError:  # this backend takes other credentials
            continue
        try:
            user = backend.authenticate(request, username=username, password=password)
        except PermissionDenied:
            return None
        if user is not None:
            user.backend = path
            return user
    return None


class ThrottledSignInMixin:
    """For Django's authentication forms: refuse while locked or slowed down, count wrong
    passwords, audit failures once per window."""

    lockout: Lockout | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not (username and password):  # a missing field is not a guess: Django says what
            return super().clean()
        address = client_address(self.request)
        self.lockout = lockout(username, address)
        if self.lockout is not None:
            _audit_failure(self.request, username, address, self.lockout)
            raise forms.ValidationError(self.lockout.message, code="throttled")
        self.user_cache = authenticate_quietly(self.request, username, password)
        if self.user_cache is None:
            record_failure(username, address)
            _audit_failure(self.request, username, address, None)
            raise self.get_invalid_login_error()
        self.confirm_login_allowed(self.user_cache)  # the admin: not staff is not a guess
        _flush_on_success(self.request, username, address)
        record_success(self.user_cache, username, address)
        return self.cleaned_data


class ThrottledAuthenticationForm(ThrottledSignInMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledSignInMixin, AdminAuthenticationForm):
    pass
