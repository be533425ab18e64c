"""Integration secrets: making and checking them, storing them the way their tool needs, and
checking a request against them.

How a secret is kept and presented is the tool's (failover.intake.tools): one only ever
compared (bearer token, basic-auth password, shared header) is kept as a SHA-256 digest; a
signing key that must be read back is Fernet-encrypted. Several may be held at once during
rotation; any of them authenticates.
"""

from __future__ import annotations

import secrets as random
from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from failover.intake import tools
from failover.intake.tools.base import CREDENTIAL_HEADERS

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
    return {**tools.for_kind(kind).store(plain), "added_at": timezone.now().isoformat()}


_DECOYS: dict[str, list[dict]] = {}


def decoy(kind: str) -> list[dict]:
    """A stored secret nobody holds, of this kind's shape: checking a request against it
    costs what checking a real integration's costs, so a missing integration is not told
    apart from a wrong secret by the time the answer takes."""
    if kind not in _DECOYS:
        _DECOYS[kind] = [stored(kind, new_secret())]
    return _DECOYS[kind]


def authenticate(*, kind: str, secrets: Any, rules: Mapping, headers: Mapping, body: bytes) -> bool:
    tool = tools.REGISTRY.get(kind)
    if tool is None:  # a row of a tool since removed: nothing can prove it
        return False
    return tool.authenticate(secrets=secrets, rules=rules, headers=headers, body=body)


def secret_headers(kind: str, rules: Mapping) -> set[str]:
    """Header names (lower case) that carry credentials and so are never stored."""
    tool = tools.REGISTRY.get(kind)
    return set(CREDENTIAL_HEADERS) | (tool.secret_headers(rules) if tool else set())
