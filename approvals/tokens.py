"""API tokens: minted (shown once), checked on every request, rotated, revoked. Only a digest
of each token is stored; the prefix names it in logs and the admin.

The rules of who may hold which token live here and nowhere else:

- An *acting* token (one that can decide, execute or roll back, or names no action: all) is
  personal. Only its own person mints or rotates it, with a step-up of theirs from the last
  few minutes (act `mint_token`, object `user:<pk>`), and it expires at most TOKEN_MAX_HOURS
  away. Break-glass needs `execute`, so it is acting too.
- A service account (a paging tool) gets read, declare and audit tokens only; naming no action
  means read and declare.
- A human act (approvals.kinds.STEP_UP_ACTS) by any token needs its person's step-up for
  that token within TOKEN_STEP_UP_MAX_AGE_MINUTES (`stepped_up_at`); renewing it is a step-up
  bound to the token (act `renew_token`, object `token:<prefix>`). A service account's token
  never does a human act.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from approvals.models import ApiToken
from audit.actions import TOKEN_CREATED, TOKEN_REVOKED, TOKEN_ROTATED, TOKEN_STEPPED_UP
from audit.services import record_event
from failover.errors import InvalidInput, NotAuthorised, ServiceError
from failover.precompiled import compiled
from identity.stepup import methods_for

PREFIX = "fa_"
TOUCH_EVERY = timedelta(seconds=60)
MINT_ACT = "mint_token"
RENEW_ACT = "renew_token"
# A step-up minting or renewing a token is for that, now: not one left over from earlier.
PROOF_MAX_AGE = timedelta(minutes=5)
ACTING = frozenset(ApiToken.ACTING_ACTIONS)
SERVICE_ACCOUNT_ACTIONS = frozenset(ApiToken.SERVICE_ACCOUNT_ACTIONS)
SERVICE_ACCOUNT_DEFAULT = ["declare", "read"]


def max_lifetime() -> timedelta:
    return timedelta(hours=settings.TOKEN_MAX_HOURS)


def step_up_max_age() -> timedelta:
    return timedelta(minutes=settings.TOKEN_STEP_UP_MAX_AGE_MINUTES)


def is_acting(actions) -> bool:
    """Whether a token with these actions can decide, execute or roll back (none named: all)."""
    return not actions or bool(set(actions) & ACTING)


def is_service_account(user) -> bool:
    return hasattr(user, "service_account")  # a missing reverse one-to-one raises


def mint_target(user) -> str:
    return f"user:{user.pk}"


def renew_target(token: ApiToken) -> str:
    return f"token:{token.prefix}"


def tokens_page_url() -> str:
    return settings.PUBLIC_BASE_URL + reverse("account-tokens")


def step_up_api_url() -> str:
    return settings.PUBLIC_BASE_URL + reverse("api-token-step-up")


def _digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} h"


def _proof_problem(proof, *, user, act: str, target: str) -> str | None:
    """Why `proof` does not show `user` confirmed `act` on `target` just now (None: it does)."""
    if proof is None:
        return None
    if proof.user_id != user.pk or proof.act != act or proof.target != target:
        return "that step-up was for another person or act: confirm again for this one"
    if proof.created_at < timezone.now() - PROOF_MAX_AGE:
        minutes = int(PROOF_MAX_AGE.total_seconds() // 60)
        return f"that step-up is older than {minutes} minutes: confirm again"
    return None


def _scope_problems(*, user, actions: list[str], created_by, expires_at, step_up) -> dict:
    errors = {}
    if is_service_account(user):
        extra = sorted(set(actions) - SERVICE_ACCOUNT_ACTIONS)
        if extra:
            errors["actions"] = (
                f"a service account's token may only {', '.join(sorted(SERVICE_ACCOUNT_ACTIONS))}"
                f" (not {', '.join(extra)}): deciding, executing and rolling back are a "
                "person's acts, with that person's own token"
            )
        if step_up is not None:
            errors["step_up"] = "a service account does not step up"
        return errors
    if not is_acting(actions):
        if step_up is not None:
            problem = _proof_problem(step_up, user=user, act=MINT_ACT, target=mint_target(user))
            if problem:
                errors["step_up"] = problem
        return errors
    can = ", ".join(sorted(set(actions) & ACTING)) if actions else "do every action"
    page = tokens_page_url()
    if created_by is None or created_by.pk != user.pk:
        errors["user"] = (
            f"a token that can {can} is personal: only {user.get_username()} can mint it, "
            f"after confirming it is them, on {page}"
        )
    elif step_up is None:
        errors["step_up"] = (
            f"a token that can {can} needs your step-up (act '{MINT_ACT}' on "
            f"'{mint_target(user)}') from the last few minutes: mint it on {page}"
        )
    else:
        problem = _proof_problem(step_up, user=user, act=MINT_ACT, target=mint_target(user))
        if problem:
            errors["step_up"] = problem
    limit = max_lifetime()
    if expires_at is None:
        errors["expires_at"] = (
            f"a token that can {can} must expire, at most {_hours(limit)} from now"
        )
    elif expires_at > timezone.now() + limit + timedelta(seconds=5):  # a form's rounding
        errors["expires_at"] = f"a token that can {can} lives at most {_hours(limit)}"
    return errors


@transaction.atomic
def create_token(
    *,
    user,
    name: str,
    created_by=None,
    expires_at=None,
    services=(),
    actions=(),
    step_up=None,
    rotated_from: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """A new token and its secret (shown once). `step_up` is the StepUpProof of its person
    (identity.stepup.confirm with act MINT_ACT, target mint_target(user)): an acting token
    needs one; it sets `stepped_up_at`."""
    name = (name or "").strip()
    actions = sorted(set(actions))
    errors = {}
    if not name or len(name) > 100:
        errors["name"] = "give the token a name of 1 to 100 characters"
    unknown = sorted(set(actions) - set(ApiToken.ACTIONS))
    if unknown:
        errors["actions"] = f"unknown {', '.join(unknown)}; known: {', '.join(ApiToken.ACTIONS)}"
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "must be in the future"
    if not user.is_active:
        errors["user"] = "the user is not active"
    if is_service_account(user) and not actions:
        actions = list(SERVICE_ACCOUNT_DEFAULT)
    if not errors:
        errors = _scope_problems(
            user=user,
            actions=actions,
            created_by=created_by,
            expires_at=expires_at,
            step_up=step_up,
        )
    if errors:
        raise InvalidInput("the token is invalid: " + "; ".join(errors.values()), errors)
    prefix = secrets.token_hex(6)
    plain = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        digest=_digest(plain),
        expires_at=expires_at,
        actions=actions,
        created_by=created_by,
        stepped_up_at=step_up.created_at if step_up is not None else None,
        rotated_from=rotated_from,
    )
    token.services.set(services)
    record_event(
        action=TOKEN_CREATED,
        obj=token,
        actor=created_by,
        data={
            "user": user.username,
            "name": name,
            "prefix": prefix,
            "expires_at": expires_at,
            "services": sorted(s.slug for s in services),
            "actions": token.actions,
            "acting": is_acting(token.actions),
            "step_up": step_up.summary() if step_up is not None else None,
            "rotated_from": rotated_from.prefix if rotated_from is not None else None,
        },
    )
    return token, plain


@transaction.atomic
def revoke_token(*, token: ApiToken, actor) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_event(
            action=TOKEN_REVOKED,
            obj=token,
            actor=actor,
            data={"user": token.user.username, "name": token.name, "prefix": token.prefix},
        )
    return token


@transaction.atomic
def rotate_token(*, token: ApiToken, actor, step_up=None) -> tuple[ApiToken, str]:
    """A new secret with the same name and scopes, living as long as the old one did (an
    acting token at most TOKEN_MAX_HOURS); the old one is revoked. Rotating an acting token
    is minting one: its own person, with a step-up (act MINT_ACT)."""
    token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
    now = timezone.now()
    if token.revoked_at is not None:
        raise InvalidInput("a revoked token is not rotated: mint a new one", {"token": "revoked"})
    if token.expires_at is not None and token.expires_at <= now:
        raise InvalidInput("an expired token is not rotated: mint a new one", {"token": "expired"})
    acting = is_acting(token.actions) and not is_service_account(token.user)
    expires_at = None
    if token.expires_at is not None or acting:  # an acting one from before the rule: the max
        lifetime = token.expires_at - token.created_at if token.expires_at else max_lifetime()
        expires_at = now + (min(lifetime, max_lifetime()) if acting else lifetime)
    new, plain = create_token(
        user=token.user,
        name=token.name,
        created_by=actor,
        expires_at=expires_at,
        services=list(token.services.all()),
        actions=token.actions,
        step_up=step_up,
        rotated_from=token,
    )
    token.revoked_at = now
    token.save(update_fields=["revoked_at"])
    record_event(
        action=TOKEN_ROTATED,
        obj=token,
        actor=actor,
        data={
            "user": token.user.username,
            "name": token.name,
            "prefix": token.prefix,
            "new_prefix": new.prefix,
        },
    )
    return new, plain


class TokenActRefused(NotAuthorised):
    """A human act refused to a token (403): `code` says why, the message how to go on."""

    def __init__(self, code: str, message: str, **extra):
        ServiceError.__init__(self, message, **extra)
        self.code = code
        self.authority = ""


def _renew_examples(user) -> str:
    bodies = {
        "totp": '{"totp": "123456"}',
        "recovery": '{"recovery_code": "..."}',
        "password": '{"password": "..."}',
    }
    found = [bodies[m] for m in methods_for(user) if m in bodies]
    return " or ".join(found) if found else '{"totp": "123456"}'


def check_human_act(token: ApiToken, act: str) -> None:
    """Refuse `act` (one of STEP_UP_ACTS) by this token unless its person stepped up for the
    token recently; never by a service account's token."""
    if is_service_account(token.user):
        raise TokenActRefused(
            "service_account",
            f"{act.replace('_', ' ')} is a person's act: a service account's token may only "
            f"{', '.join(sorted(SERVICE_ACCOUNT_ACTIONS))}; the person acts with a token of "
            "their own",
        )
    max_age = step_up_max_age()
    if token.stepped_up_at is not None and token.stepped_up_at > timezone.now() - max_age:
        return
    when = (
        f"its step-up is from {token.stepped_up_at:%Y-%m-%d %H:%M} UTC"
        if token.stepped_up_at is not None
        else "it was never stepped up"
    )
    minutes = int(max_age.total_seconds() // 60)
    raise TokenActRefused(
        "step_up_stale",
        f"{act.replace('_', ' ')} by a token needs its person's step-up from the last "
        f"{minutes} minutes, and {when}. Renew it on {tokens_page_url()} (Renew step-up) or "
        f"with POST {step_up_api_url()} and a step-up in the body: "
        f"{_renew_examples(token.user)}",
        renew_url=tokens_page_url(),
        step_up_url=step_up_api_url(),
        stepped_up_at=token.stepped_up_at,
    )


def check_renewable(token: ApiToken) -> None:
    """Refuse renewing this token's step-up before anyone is asked to confirm anything."""
    if is_service_account(token.user):
        raise TokenActRefused(
            "service_account", "a service account's token does no human act, so it has no step-up"
        )
    if token.revoked_at is not None or (
        token.expires_at is not None and token.expires_at <= timezone.now()
    ):
        raise InvalidInput("the token is revoked or expired", {"token": "not live"})


@transaction.atomic
def renew_step_up(*, token: ApiToken, step_up) -> ApiToken:
    """Record that the token's person stepped up for it (identity.stepup.confirm with act
    RENEW_ACT, target renew_target(token)): human acts by it count from now."""
    check_renewable(token)
    problem = _proof_problem(step_up, user=token.user, act=RENEW_ACT, target=renew_target(token))
    if step_up is None or problem:
        raise InvalidInput(
            problem or "renewing needs your step-up", {"step_up": problem or "required"}
        )
    token.stepped_up_at = step_up.created_at
    token.save(update_fields=["stepped_up_at"])
    record_event(
        action=TOKEN_STEPPED_UP,
        obj=token,
        actor=token.user,
        data={
            "user": token.user.username,
            "name": token.name,
            "prefix": token.prefix,
            "step_up": step_up.summary(),
        },
    )
    return token


def describe(token: ApiToken) -> dict:
    """What a token is and how long it lives, for the API, the page and the command."""
    valid_until = (
        token.stepped_up_at + step_up_max_age() if token.stepped_up_at is not None else None
    )
    return {
        "name": token.name,
        "prefix": token.prefix,
        "user": token.user.get_username(),
        "actions": list(token.actions) or list(ApiToken.ACTIONS),
        "services": sorted(s.slug for s in token.services.all()),
        "acting": is_acting(token.actions),
        "service_account": is_service_account(token.user),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "stepped_up_at": token.stepped_up_at,
        "step_up_valid_until": valid_until,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
        "rotated_from": token.rotated_from.prefix if token.rotated_from_id else None,
    }


class TokenRejected(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _by_prefix(prefix: str) -> QuerySet[ApiToken]:
    return ApiToken.objects.select_related("user__service_account").filter(prefix=prefix)[:1]


def check_token(plain: str) -> ApiToken:
    """The live token for this secret, or TokenRejected saying why (never which part). A
    service account's token is held to what such a token may do, whatever it was minted with
    before that rule."""
    if not plain.startswith(PREFIX) or plain.count("_") < 2:
        raise TokenRejected("malformed token")
    prefix = plain[len(PREFIX) :].split("_", 1)[0]
    # Asked on every API call: its SQL is written once per process.
    found = compiled("token-by-prefix", _by_prefix, "prefix").objects(prefix=prefix)
    token = found[0] if found else None
    if token is None or not hmac.compare_digest(token.digest, _digest(plain)):
        raise TokenRejected("unknown token")
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenRejected("token revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRejected("token expired")
    if not token.user.is_active:
        raise TokenRejected("the token's user is not active")
    if is_service_account(token.user):
        allowed = [
            a for a in token.actions or SERVICE_ACCOUNT_DEFAULT if a in SERVICE_ACCOUNT_ACTIONS
        ]
        if not allowed:
            raise TokenRejected("a service account's token may only read, declare and audit")
        token.actions = allowed  # this request only; the row keeps what was minted
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)  # a write a minute at most
    return token
