"""Two-admin reset of a person's lost step-up credentials (passkeys, authenticator apps,
recovery codes).

One administrator requests it with a reason; nothing is removed until a different
administrator approves it within EXPIRES_AFTER. Nobody requests or approves a reset of their
own credentials. Both steps are audited, and the person is told by email of each: a reset they
did not ask for is how they would learn their account is being taken over.

An administrator here: active staff with the `identity.add_credentialreset` permission, or a
superuser.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.actions import IDENTITY_CREDENTIALS_RESET, IDENTITY_CREDENTIALS_RESET_REQUESTED
from audit.services import record_event
from identity.models import CredentialReset, Passkey
from identity.sessions import end_sessions
from identity.stepup import clear_failures

log = logging.getLogger(__name__)

EXPIRES_AFTER = timedelta(hours=24)
MAX_REASON = 2000


class ResetError(Exception):
    """A refused request or approval: `status` is the HTTP status a page answers with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def can_administer(user) -> bool:
    return bool(
        getattr(user, "is_active", False)
        and getattr(user, "is_staff", False)
        and (user.is_superuser or user.has_perm("identity.add_credentialreset"))
    )


def state(reset: CredentialReset, now=None) -> str:
    if reset.approved_at:
        return "done"
    now = now or timezone.now()
    return "expired" if reset.requested_at <= now - EXPIRES_AFTER else "pending"


def pending_for(user) -> CredentialReset | None:
    return (
        CredentialReset.objects.filter(
            user=user,
            approved_at__isnull=True,
            requested_at__gt=timezone.now() - EXPIRES_AFTER,
        )
        .order_by("-requested_at")
        .first()
    )


def credentials_of(user) -> dict:
    """How many of each the person has (what a reset removes)."""
    return {
        "passkeys": Passkey.objects.filter(user=user).count(),
        "authenticator_apps": TOTPDevice.objects.filter(user=user).count(),
        "recovery_codes": StaticToken.objects.filter(device__user=user).count(),
    }


def check_request(*, actor, user, reason) -> str:
    """The cleaned reason, or ResetError saying why this request is refused."""
    if not can_administer(actor):
        raise ResetError(
            "only an administrator with the permission to reset credentials can request this",
            403,
        )
    if not isinstance(user, get_user_model()) or user.pk is None:
        raise ResetError("choose the person whose credentials are lost")
    if user.pk == actor.pk:
        raise ResetError(
            "you cannot request a reset of your own credentials: ask another administrator"
        )
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise ResetError("say why: e.g. how the person reported the lost key")
    if len(reason) > MAX_REASON:
        raise ResetError(f"the reason is too long (at most {MAX_REASON} characters)")
    waiting = pending_for(user)
    if waiting is not None:
        raise ResetError(
            f"a reset of {user} is already waiting for approval (requested by "
            f"{waiting.requested_by} at {waiting.requested_at:%Y-%m-%d %H:%M} UTC)",
            409,
        )
    return reason


def request_reset(*, actor, user, reason) -> CredentialReset:
    """Record the request (audited) and tell the person; removes nothing."""
    reason = check_request(actor=actor, user=user, reason=reason)
    with transaction.atomic():
        reset = CredentialReset.objects.create(user=user, reason=reason, requested_by=actor)
        record_event(
            action=IDENTITY_CREDENTIALS_RESET_REQUESTED,
            obj=reset,
            actor=actor,
            data={
                "user": user.get_username(),
                "requested_by": actor.get_username(),
                "reason": reason,
                "credentials": credentials_of(user),
                "expires_at": (reset.requested_at + EXPIRES_AFTER).isoformat(),
            },
        )
        transaction.on_commit(lambda: _notify(reset, "requested"))
    return reset


def approve_reset(*, actor, reset_id) -> CredentialReset:
    """A second administrator's approval: removes the credentials (audited, naming both)."""
    if not can_administer(actor):
        raise ResetError(
            "only an administrator with the permission to reset credentials can approve this",
            403,
        )
    try:
        reset_id = int(reset_id)
    except (TypeError, ValueError):
        raise ResetError("no such reset request", 404) from None
    with transaction.atomic():
        reset = (
            CredentialReset.objects.select_for_update()
            .select_related("user", "requested_by")
            .filter(pk=reset_id)
            .first()
        )
        if reset is None:
            raise ResetError("no such reset request", 404)
        now = timezone.now()
        current = state(reset, now)
        if current == "done":
            raise ResetError(f"this reset was already approved by {reset.approved_by}", 409)
        if current == "expired":
            raise ResetError(
                "this reset request expired (older than "
                f"{int(EXPIRES_AFTER.total_seconds() // 3600)} h): request it again",
                409,
            )
        if actor.pk == reset.user_id:
            raise ResetError("you cannot approve a reset of your own credentials", 403)
        if actor.pk == reset.requested_by_id:
            raise ResetError("a different administrator must approve the reset you requested", 403)
        removed = _remove_credentials(reset.user)
        sessions_ended = end_sessions(reset.user)
        reset.approved_by = actor
        reset.approved_at = now
        reset.save(update_fields=["approved_by", "approved_at"])
        record_event(
            action=IDENTITY_CREDENTIALS_RESET,
            obj=reset,
            actor=actor,
            data={
                "user": reset.user.get_username(),
                "requested_by": reset.requested_by.get_username(),
                "approved_by": actor.get_username(),
                "reason": reset.reason,
                "removed": removed,
                "sessions_ended": sessions_ended,
            },
        )
        transaction.on_commit(lambda: _notify(reset, "done"))
    clear_failures(reset.user)  # a locked step-up is part of what was lost
    return reset


def _remove_credentials(user) -> dict:
    removed = credentials_of(user)
    Passkey.objects.filter(user=user).delete()
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()  # its tokens go with it
    return removed


def _notify(reset: CredentialReset, what: str) -> None:
    """Email the person (after commit); a mail server down fails nothing but the email."""
    user = reset.user
    if not user.email:
        log.warning("credential reset %s %s: %s has no email address", reset.pk, what, user)
        return
    context = {
        "reset": reset,
        "user": user,
        "hours": int(EXPIRES_AFTER.total_seconds() // 3600),
    }
    subject = {
        "requested": "A reset of your sign-in credentials was requested",
        "done": "Your sign-in credentials were reset",
    }[what]
    try:
        send_mail(
            subject,
            render_to_string(f"identity/reset_{what}_email.txt", context),
            settings.DEFAULT_FROM_EMAIL,
            [user.email],
        )
    except Exception:  # an unreachable mail server must not undo or fail the reset
        log.exception("could not email %s about credential reset %s", user, reset.pk)
