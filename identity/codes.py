"""Authenticator-app codes (TOTP, django-otp) and one-time recovery codes.

Step-up methods `totp` and `recovery` of identity/stepup.py, and what the person's pages do
with them: enrol an app (an unconfirmed device until its first code verifies), remove one,
generate ten recovery codes (replacing the old ones). Only confirmed devices confirm acts.

- A TOTP code is accepted once: django-otp keeps the last accepted time step (`last_t`) and
  refuses any code of that step or before; the device row is locked while it is checked, so
  two requests racing with the same code cannot both pass.
- Recovery codes are stored hashed (SHA-256, in otp_static's 16-character token field): a
  database reader cannot use them. Using one deletes it (one row deleted, or refused).
- Audit events name the device or how many codes are left, never a secret or a code.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from datetime import timedelta

import segno
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.actions import (
    IDENTITY_RECOVERY_CODES_GENERATED,
    IDENTITY_RECOVERY_CODES_USED,
    IDENTITY_TOTP_ADDED,
    IDENTITY_TOTP_REMOVED,
)
from audit.services import record_event
from identity.challenges import WrongAnswer

RECOVERY_COUNT = 10
RECOVERY_DEVICE = "recovery codes"
PENDING_MAX_AGE = timedelta(minutes=10)  # to scan the QR code and type the first code
FIRST_METHOD_SIGN_IN_MINUTES = 10  # a first way to confirm needs a sign-in this recent

# Step-up acts of these pages (bound to the person or the device, like every act).
ADD_TOTP = "add_totp"
REMOVE_TOTP = "remove_totp"
NEW_RECOVERY_CODES = "recovery_codes"


def user_target(user) -> str:
    return f"user:{user.pk}"


def device_target(device) -> str:
    return f"totp:{device.pk}"


# --- authenticator apps (TOTP) --------------------------------------------------------------


def totp_devices(user):
    """The person's confirmed authenticator apps: the only ones that confirm acts."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("created_at", "id")


def totp_available(user) -> bool:
    return totp_devices(user).exists()


def _digits(value) -> str:
    """A typed code without spaces or dashes, if it looks like one (6 to 8 ASCII digits)."""
    if not isinstance(value, str):
        return ""
    value = re.sub(r"[\s-]", "", value)
    return value if re.fullmatch(r"[0-9]{6,8}", value) else ""


def describe(device) -> str:
    return f"authenticator app {device.name!r} (#{device.pk})"


def totp_verify(user, binding, evidence) -> dict:
    code = _digits(evidence.get("totp"))
    if code:
        with transaction.atomic():
            # Locked: the check and the move of `last_t` happen as one (no replay in a race).
            for device in totp_devices(user).select_for_update():
                if device.verify_token(code):
                    return {"nonce": secrets.token_urlsafe(24), "device": describe(device)}
    raise WrongAnswer("that is not a current code of your authenticator app (each code works once)")


def start_totp(user, name: str) -> TOTPDevice:
    """A new, unconfirmed device (an earlier unfinished one is dropped)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=name, confirmed=False)


def pending_totp(user, device_id) -> TOTPDevice | None:
    """The person's unconfirmed device `device_id`, if started recently enough."""
    if not isinstance(device_id, int):
        return None
    return TOTPDevice.objects.filter(
        user=user,
        pk=device_id,
        confirmed=False,
        created_at__gte=timezone.now() - PENDING_MAX_AGE,
    ).first()


def confirm_totp(device: TOTPDevice, code: str, *, actor) -> bool:
    """Mark the device confirmed if `code` is its current code (audited)."""
    code = _digits(code)
    if not code:
        return False
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        if device.confirmed or not device.verify_token(code):
            return False
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        record_event(
            action=IDENTITY_TOTP_ADDED,
            obj=device.user,
            actor=actor,
            data={"device": describe(device)},
        )
    return True


def remove_totp(device: TOTPDevice, *, actor) -> None:
    with transaction.atomic():
        record_event(
            action=IDENTITY_TOTP_REMOVED,
            obj=device.user,
            actor=actor,
            data={"device": describe(device)},
        )
        device.delete()


def secret_text(device: TOTPDevice) -> str:
    """The key as the base32 text an app accepts when typed, in groups of four."""
    key = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL as an inline SVG QR code (the CSP allows no data: images)."""
    svg = segno.make(device.config_url, error="m").svg_inline(
        scale=5, dark="#000", light="#fff", svgclass="qr", lineclass=None
    )
    label = 'role="img" aria-label="QR code to add this account to your authenticator app"'
    return svg.replace("<svg ", f"<svg {label} ", 1)


# --- recovery codes (otp_static) -------------------------------------------------------------


def _normalise_recovery(value) -> str:
    if not isinstance(value, str):
        return ""
    return re.sub(r"[\s-]", "", value).lower()


def _stored(code: str) -> str:
    """What is kept of a recovery code: 80 bits of its SHA-256, in base32 (16 characters)."""
    digest = hashlib.sha256(code.encode()).digest()
    return base64.b32encode(digest).decode()[:16].lower()


def _recovery_tokens(user):
    return StaticToken.objects.filter(device__user=user, device__confirmed=True)


def recovery_left(user) -> int:
    return _recovery_tokens(user).count()


def recovery_available(user) -> bool:
    return _recovery_tokens(user).exists()


def recovery_verify(user, binding, evidence) -> dict:
    code = _normalise_recovery(evidence.get("recovery_code"))
    if len(code) == 16:
        with transaction.atomic():
            token = _recovery_tokens(user).filter(token=_stored(code)).first()
            # Deleted by exactly this request: a second use (even a racing one) deletes nothing.
            if token is not None and StaticToken.objects.filter(pk=token.pk).delete()[0] == 1:
                left = recovery_left(user)
                record_event(
                    action=IDENTITY_RECOVERY_CODES_USED,
                    obj=user,
                    actor=user,
                    data={"act": binding.act, "target": binding.target, "left": left},
                )
                return {
                    "nonce": secrets.token_urlsafe(24),
                    "device": f"recovery code (#{token.pk}; {left} left)",
                }
    raise WrongAnswer("that is not one of your unused recovery codes")


def generate_recovery_codes(user, *, actor) -> list[str]:
    """Ten new codes, replacing any earlier ones; returned to be shown once, kept hashed."""
    codes = []
    for _ in range(RECOVERY_COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 80 bits
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    with transaction.atomic():
        replaced = recovery_left(user)
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE, confirmed=True)
        StaticToken.objects.bulk_create(
            StaticToken(device=device, token=_stored(_normalise_recovery(c))) for c in codes
        )
        record_event(
            action=IDENTITY_RECOVERY_CODES_GENERATED,
            obj=user,
            actor=actor,
            data={"count": len(codes), "unused_replaced": replaced},
        )
    return codes


def recovery_generated_at(user):
    device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    return device.created_at if device else None


# --- the security page's section (templates/identity/_codes.html) ---------------------------


def codes_context(user) -> dict:
    """What `identity/_codes.html` needs, under one key so it collides with nothing."""
    return {
        "codes": {
            "totp_devices": list(totp_devices(user)),
            "recovery_left": recovery_left(user),
            "recovery_total": RECOVERY_COUNT,
            "recovery_generated_at": recovery_generated_at(user),
        }
    }
