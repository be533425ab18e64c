"""Encryption of secrets the product must read back (e.g. PagerDuty's HMAC key), so the
database never holds them in plain text. The key comes from SECRETS_ENCRYPTION_KEY, or is
derived from SECRET_KEY when that is not set."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    configured = getattr(settings, "SECRETS_ENCRYPTION_KEY", None)
    if configured:
        return Fernet(configured.encode() if isinstance(configured, str) else configured)
    digest = hashlib.sha256(b"failover-secrets:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("secret cannot be decrypted with the configured key") from exc


def digest(plain: str) -> str:
    """One-way: for secrets that are only ever compared (bearer tokens, shared headers)."""
    return hashlib.sha256(plain.encode()).hexdigest()
