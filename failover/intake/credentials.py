"""Integration secrets: how they are stored and how a request proves it holds one.

A secret is only ever compared (bearer token, basic-auth password, shared header) is kept as
a SHA-256 digest; PagerDuty's HMAC key must be read back to sign, so it is Fernet-encrypted.
Several may be held at once during rotation; any of them authenticates.
"""

from __future__ import annotations

import hmac
import secrets as random
from collections.abc import Mapping

from django.utils import timezone

from failover.intake import alertmanager, opsgenie, pagerduty
from failover.secrets import decrypt, digest, encrypt

MIN_LENGTH = 16


def new_secret() -> str:
    return random.token_urlsafe(32)


def check_secret(plain: str) -> str:
    """A secret given by a person (or PagerDuty): long enough and printable, else ValueError."""
    plain = (plain or "").strip()
    if len(plain) < MIN_LENGTH:
        raise ValueError(f"a secret needs at least {MIN_LENGTH} characters")
    if not plain.isprintable() or any(c.isspace() for c in plain):
        raise ValueError("a secret may not contain spaces or control characters")
    return plain


def stored(kind: str, plain: str) -> dict:
    entry = {"fernet": encrypt(plain)} if kind == "pagerduty" else {"sha256": digest(plain)}
    return {**entry, "added_at": timezone.now().isoformat()}


_DECOYS: dict[str, list[dict]] = {}


def decoy(kind: str) -> list[dict]:
    """A stored secret nobody holds, of this kind's shape: checking a request against it
    costs what checking a real integration's costs, so a missing integration is not told
    apart from a wrong secret by the time the answer takes."""
    if kind not in _DECOYS:
        _DECOYS[kind] = [stored(kind, new_secret())]
    return _DECOYS[kind]


def _entries(secrets, field: str) -> list[str]:
    return [
        s[field] for s in secrets or [] if isinstance(s, Mapping) and isinstance(s.get(field), str)
    ]


def _hmac_keys(secrets) -> list[str]:
    keys = []
    for token in _entries(secrets, "fernet"):
        try:
            keys.append(decrypt(token))
        except ValueError:  # encrypted under another key: it cannot authenticate anything
            continue
    return keys


def _matches_digest(presented: str | None, secrets) -> bool:
    if not presented:
        return False
    presented_digest = digest(presented).encode()
    return any(
        hmac.compare_digest(presented_digest, entry.encode())
        for entry in _entries(secrets, "sha256")
    )


def authenticate(*, kind: str, secrets, rules: Mapping, headers: Mapping, body: bytes) -> bool:
    if kind == "pagerduty":
        header = headers.get(pagerduty.SIGNATURE_HEADER, "")
        return pagerduty.signature_ok(body, header, _hmac_keys(secrets))
    if kind == "alertmanager":
        presented = alertmanager.credential(headers.get("Authorization", ""))
        return _matches_digest(presented, secrets)
    if kind == "opsgenie":
        return _matches_digest(headers.get(opsgenie.secret_header(rules)), secrets)
    return False


def secret_headers(kind: str, rules: Mapping) -> set[str]:
    """Header names (lower case) that carry credentials and so are never stored."""
    names = {"authorization", "proxy-authorization", "cookie"}
    if kind == "opsgenie":
        names.add(opsgenie.secret_header(rules).lower())
    return names
