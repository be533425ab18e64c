"""Tokens for tests, minted the way a person mints them: after a real step-up.

`personal_token(user, **scope)` confirms it is `user` with a password (identity.stepup.confirm,
act `mint_token`) and mints the token with that proof, so it is stepped up now: an acting
token (decide, execute, rollback, or every action) expires at most TOKEN_MAX_HOURS away by
default, and any token of a person may do human acts for TOKEN_STEP_UP_MAX_AGE_MINUTES. A
service account's token is minted as such a token is (no step-up: read, declare, audit)."""

from __future__ import annotations

from django.utils import timezone

from approvals.tokens import (
    MINT_ACT,
    create_token,
    is_acting,
    is_service_account,
    max_lifetime,
    mint_target,
)
from identity.stepup import Binding, confirm

DEMO_PASSWORD = "demo"


def step_up(user, act: str, target: str, password: str | None = None):
    """A password StepUpProof of `user` for `act` on `target`. Without `password`, the demo
    password is set for the confirmation and the user's own is put back afterwards."""
    if password is not None:
        return confirm(user, Binding(act, target), {"password": password})
    kept = user.password
    user.set_password(DEMO_PASSWORD)
    user.save(update_fields=["password"])
    try:
        return confirm(user, Binding(act, target), {"password": DEMO_PASSWORD})
    finally:
        user.password = kept
        user.save(update_fields=["password"])


def personal_token(user, *, name: str = "personal", password: str | None = None, **scope):
    """(token, secret) of a token `user` minted after stepping up, with `scope` (actions,
    services, expires_at)."""
    if is_service_account(user):
        return create_token(user=user, name=name, **scope)
    if is_acting(scope.get("actions", ())) and scope.get("expires_at") is None:
        scope["expires_at"] = timezone.now() + max_lifetime()
    proof = step_up(user, MINT_ACT, mint_target(user), password)
    return create_token(user=user, created_by=user, name=name, step_up=proof, **scope)
