"""Step-up: the person acting proves it is them again, for one act on one object and plan.

Every door (web forms, the API with a session, token renewal) calls `confirm(user, binding,
evidence)`; it returns the StepUpProof the act then carries (audit events name it, a decision
keeps it) or raises StepUpError saying what to do. The methods, strongest first:

- passkey (WebAuthn): the challenge the authenticator signs is a digest of the binding (act,
  object, plan hash) and a one-time nonce, so the stored assertion shows this key confirmed
  this act on this plan (identity/passkeys.py);
- an authenticator-app code (TOTP) or a one-time recovery code (identity/codes.py);
- re-authentication at the identity provider (identity/provider_stepup.py);
- the local password, where local passwords are on (the embedded demo, break-glass admins).

STEP_UP_METHODS lists the methods an organisation accepts. Wrong answers (a password, a code)
are counted per person: five in ten minutes lock the step-up for the rest of those ten
minutes, counted in the shared cache (in this process while Redis is down).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.context import annotating
from failover.degrade import with_cache
from identity import codes, passkeys, provider_stepup
from identity.challenges import Binding, StepUpError, WrongAnswer  # and confirm()'s callers
from identity.models import StepUpProof

MAX_FAILURES = 5
WINDOW_SECONDS = 600

RECOVERY = (
    "To unlock it now, sign out and sign in again (if you have lost your way to confirm, an "
    "administrator can reset it with a second administrator); otherwise it unlocks by itself"
)

# The fields of a form or a JSON body that carry evidence, by method.
EVIDENCE_FIELDS = ("password", "totp", "recovery_code", "passkey", "challenge", "provider_proof")


# --- methods ------------------------------------------------------------------------------

# name -> (available(user) -> bool, verify(user, binding, evidence) -> proof fields)
Method = tuple[Callable[..., bool], Callable[..., dict]]


def _password_available(user) -> bool:
    return local_passwords_enabled() and user.has_usable_password()


def _password_verify(user, binding: Binding, evidence: Mapping) -> dict:
    if not user.check_password(evidence["password"]):
        raise WrongAnswer("that is not your password")
    return {"nonce": secrets.token_urlsafe(24)}


def _methods() -> dict[str, Method]:
    return {
        "passkey": (passkeys.available, passkeys.verify),
        "totp": (codes.totp_available, codes.totp_verify),
        "recovery": (codes.recovery_available, codes.recovery_verify),
        "provider": (provider_stepup.available, provider_stepup.verify),
        "password": (_password_available, _password_verify),
    }


# Which evidence field answers which method.
FIELD_METHOD = {
    "passkey": "passkey",
    "totp": "totp",
    "recovery_code": "recovery",
    "provider_proof": "provider",
    "password": "password",
}


def local_passwords_enabled() -> bool:
    return settings.LOCAL_PASSWORDS


def accepted_methods() -> list[str]:
    return list(settings.STEP_UP_METHODS)


def methods_for(user) -> list[str]:
    """The methods this person can confirm with now, strongest first."""
    methods = _methods()
    return [name for name in accepted_methods() if name in methods and methods[name][0](user)]


def how_to_confirm(user) -> str:
    names = methods_for(user)
    if not names:
        return (
            "you have no way to confirm it is you yet: add a passkey or an authenticator app "
            "on your security page"
        )
    labels = dict(StepUpProof.Method.choices)
    return "confirm it is you with " + " or ".join(labels[n].lower() for n in names)


def evidence_from(data: Mapping) -> dict:
    """The evidence fields of a form or JSON body (a nested `step_up` object wins)."""
    nested = data.get("step_up") if hasattr(data, "get") else None
    source = nested if isinstance(nested, Mapping) else data
    return {
        name: source.get(name) for name in EVIDENCE_FIELDS if source.get(name) not in (None, "")
    }


# --- confirming ---------------------------------------------------------------------------


def confirm(user, binding: Binding, evidence: Mapping) -> StepUpProof:
    """The proof that `user` confirmed `binding` with `evidence`, or StepUpError."""
    now = time.time()
    failures = _recent_failures(user, now)
    if len(failures) >= MAX_FAILURES:
        raise _locked(failures, now, "too many wrong answers: confirmation is locked")
    available = methods_for(user)
    given = [FIELD_METHOD[f] for f in FIELD_METHOD if evidence.get(f)]
    if not given:
        raise StepUpError(how_to_confirm(user), code="step_up_required")
    method = given[0]
    if method not in available:
        if method == "password" and not _password_available(user):
            raise StepUpError(
                "a password does not confirm acts here: " + how_to_confirm(user), code="method"
            )
        raise StepUpError(
            f"{dict(StepUpProof.Method.choices)[method].lower()} is not one of your ways to "
            f"confirm: {how_to_confirm(user)}",
            code="method",
        )
    verify = _methods()[method][1]
    try:
        fields = verify(user, binding, evidence)
    except WrongAnswer as exc:
        failures.append(now)
        with_cache(lambda store: store.set(_key(user), failures, WINDOW_SECONDS))
        left = MAX_FAILURES - len(failures)
        if left:
            raise StepUpError(
                f"{exc} ({left} attempt{'s' if left != 1 else ''} left)", code="wrong"
            ) from None
        raise _locked(failures, now, f"{exc}; confirmation is now locked") from None
    clear_failures(user)
    if isinstance(fields, StepUpProof):  # proved before the act (provider re-authentication)
        return fields
    try:
        with transaction.atomic():
            return StepUpProof.objects.create(
                user=user,
                method=method,
                act=binding.act,
                target=binding.target,
                plan_hash=binding.plan_hash,
                used_at=timezone.now(),
                **fields,
            )
    except IntegrityError:  # the same challenge answered twice
        raise StepUpError("that confirmation was already used: confirm again") from None


def recent_proof(user, *, within: timedelta) -> StepUpProof | None:
    """The person's latest proof, if newer than `within` (e.g. to enrol a first passkey)."""
    return (
        StepUpProof.objects.filter(user=user, created_at__gte=timezone.now() - within)
        .order_by("-created_at")
        .first()
    )


# --- the lock -------------------------------------------------------------------------------


def _key(user) -> str:
    return f"web:step-up-failures:{user.pk}"


def _recent_failures(user, now: float) -> list[float]:
    stored = with_cache(lambda store: store.get(_key(user), []))
    return [t for t in stored if now - t < WINDOW_SECONDS]


def clear_failures(user) -> None:
    """A sign-in ends the step-up lock: whoever can sign in could confirm anyway."""
    with_cache(lambda store: store.delete(_key(user)))


def _locked(failures: list[float], now: float, first_words: str) -> StepUpError:
    retry_after = max(1, math.ceil(WINDOW_SECONDS - (now - failures[0])))
    until = datetime.fromtimestamp(now + retry_after, UTC).strftime("%H:%M UTC")
    minutes = math.ceil(retry_after / 60)
    return StepUpError(
        f"{first_words} for {'about ' if minutes < 10 else ''}{minutes} min (until {until}). "
        f"{RECOVERY}",
        locked=True,
        retry_after=retry_after,
        code="locked",
    )


@contextmanager
def carrying(proof: StepUpProof | None) -> Iterator[None]:
    """Every audit event recorded inside names the proof the act was confirmed with."""
    if proof is None:
        yield
        return
    with annotating(step_up=proof.summary()):
        yield
