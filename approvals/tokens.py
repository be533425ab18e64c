"""API tokens: created (shown once), checked on every request, revoked. Only a digest of
each token is stored; the prefix names it in logs and the admin."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from approvals.models import ApiToken
from audit.services import record_event
from failover.errors import InvalidInput

PREFIX = "fa_"
TOUCH_EVERY = timedelta(seconds=60)


def _digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


@transaction.atomic
def create_token(
    *, user, name: str, created_by=None, expires_at=None, services=(), actions=()
) -> tuple[ApiToken, str]:
    name = (name or "").strip()
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
    if errors:
        raise InvalidInput("the token is invalid", errors)
    prefix = secrets.token_hex(6)
    plain = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        digest=_digest(plain),
        expires_at=expires_at,
        actions=sorted(set(actions)),
        created_by=created_by,
    )
    token.services.set(services)
    record_event(
        action="token.created",
        obj=token,
        actor=created_by,
        data={
            "user": user.username,
            "name": name,
            "prefix": prefix,
            "expires_at": expires_at,
            "services": sorted(s.slug for s in services),
            "actions": token.actions,
        },
    )
    return token, plain


@transaction.atomic
def revoke_token(*, token: ApiToken, actor) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_event(
            action="token.revoked",
            obj=token,
            actor=actor,
            data={"user": token.user.username, "name": token.name, "prefix": token.prefix},
        )
    return token


class TokenRejected(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check_token(plain: str) -> ApiToken:
    """The live token for this secret, or TokenRejected saying why (never which part)."""
    if not plain.startswith(PREFIX) or plain.count("_") < 2:
        raise TokenRejected("malformed token")
    prefix = plain[len(PREFIX) :].split("_", 1)[0]
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.digest, _digest(plain)):
        raise TokenRejected("unknown token")
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenRejected("token revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRejected("token expired")
    if not token.user.is_active:
        raise TokenRejected("the token's user is not active")
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)  # a write a minute at most
    return token
