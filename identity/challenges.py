"""What a step-up method is handed and may raise, and the one-time challenges it signs.

The methods (identity/passkeys.py, identity/codes.py, identity/provider_stepup.py) import this
module, and identity/stepup.py imports the methods: this file is the floor both stand on, so
the methods never import the step-up that calls them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core import signing

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CHALLENGE_MAX_AGE = 300  # seconds a challenge stays answerable
SALT = "identity.step-up"


@dataclass(frozen=True)
class Binding:
    """What is being confirmed: the act, its object ("request:12") and the plan's hash."""

    act: str
    target: str = ""
    plan_hash: str = ""


class StepUpError(Exception):
    def __init__(
        self, message: str, *, locked: bool = False, retry_after: int = 0, code: str = "step_up"
    ):
        super().__init__(message)
        self.message = message
        self.locked = locked
        self.retry_after = retry_after  # seconds until the lock ends (0: not locked)
        self.code = code


class WrongAnswer(Exception):
    """A method's evidence did not verify: counted towards the lock."""


def challenge_digest(user_id: int, binding: Binding, nonce: str) -> bytes:
    """The bytes a passkey signs (as its WebAuthn challenge) for this binding and nonce:
    anyone can recompute them from a stored proof to check what the key confirmed."""
    text = "\n".join(
        ["failover-step-up/1", str(user_id), binding.act, binding.target, binding.plan_hash, nonce]
    )
    return hashlib.sha256(text.encode()).digest()


def new_challenge(user: User, binding: Binding) -> dict:
    """A signed, short-lived challenge for this person and binding. `token` goes back with the
    answer; `digest` is what a passkey signs."""
    nonce = secrets.token_urlsafe(24)
    token = signing.dumps(
        {"u": user.pk, "a": binding.act, "t": binding.target, "p": binding.plan_hash, "n": nonce},
        salt=SALT,
    )
    return {"token": token, "nonce": nonce, "digest": challenge_digest(user.pk, binding, nonce)}


def open_challenge(user: User, binding: Binding, token: str) -> str:
    """The nonce of a challenge issued to this person for this binding, or StepUpError."""
    try:
        data = signing.loads(token or "", salt=SALT, max_age=CHALLENGE_MAX_AGE)
    except signing.SignatureExpired:
        raise StepUpError("the confirmation took too long: try again", code="challenge") from None
    except signing.BadSignature:
        raise StepUpError("the confirmation challenge is not valid", code="challenge") from None
    if (data.get("u"), data.get("a"), data.get("t"), data.get("p")) != (
        user.pk,
        binding.act,
        binding.target,
        binding.plan_hash,
    ):
        raise StepUpError(
            "that confirmation was for another act or plan: review this one and confirm again",
            code="challenge",
        )
    return data["n"]
