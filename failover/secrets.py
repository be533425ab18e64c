"""Encryption of secrets the product must read back (PagerDuty's HMAC key, a notification
endpoint's URL and signing secret), so the database never holds them in plain text.

The keys are SECRETS_ENCRYPTION_KEY (or _FILE): one or more Fernet keys, comma-separated, the
first encrypting and every one decrypting (MultiFernet), so a key is rotated by putting the new
one first, running `manage.py rotate_encryption_key` (re-encrypts every stored secret) and then
dropping the old one. It is separate from SECRET_KEY, which can then be rotated freely.

Secrets stored before this setting existed were encrypted with a key derived from SECRET_KEY:
that key still decrypts (last), so an upgrade reads them, and the rotation command re-encrypts
them under SECRETS_ENCRYPTION_KEY. Without the setting (the embedded demo) that derived key is
the only one, and `manage.py check` says why that is fragile (failover.W020).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import AppConfig
from django.conf import settings
from django.core import checks


def derived_key(secret_key: str) -> bytes:
    """The key secrets were encrypted with before SECRETS_ENCRYPTION_KEY existed."""
    digest = hashlib.sha256(b"failover-secrets:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def parse_keys(raw: str) -> list[bytes]:
    """The Fernet keys of a SECRETS_ENCRYPTION_KEY value, or ValueError saying which is bad."""
    keys = [part.strip() for part in (raw or "").split(",") if part.strip()]
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ValueError(
                f"key {position} is not a Fernet key (32 url-safe base64-encoded bytes; make "
                "one with `manage.py rotate_encryption_key --generate`)"
            ) from None
    return [key.encode() for key in keys]


def _fernet() -> MultiFernet:
    keys = [*settings.SECRETS_ENCRYPTION_KEYS, derived_key(settings.SECRET_KEY)]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("secret cannot be decrypted with the configured key") from exc


def reencrypt(token: str) -> str:
    """The same secret under the current (first) key; ValueError if no key opens it."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("secret cannot be decrypted with the configured key") from exc


def digest(plain: str) -> str:
    """One-way: for secrets that are only ever compared (bearer tokens, shared headers)."""
    return hashlib.sha256(plain.encode()).hexdigest()


NO_KEY = (
    "SECRETS_ENCRYPTION_KEY is not set: stored secrets (PagerDuty keys, webhook URLs and "
    "secrets) are encrypted with a key derived from SECRET_KEY, so rotating SECRET_KEY makes "
    "them unreadable"
)


@checks.register(checks.Tags.security)
def check_encryption_key(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: object
) -> list[checks.CheckMessage]:
    if settings.SECRETS_ENCRYPTION_KEYS:
        return []
    hint = (
        "make a key with `manage.py rotate_encryption_key --generate`, set it, then run "
        "`manage.py rotate_encryption_key` (README, 'Stored secrets')"
    )
    return [checks.Warning(NO_KEY, hint=hint, id="failover.W020")]
