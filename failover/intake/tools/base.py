"""What every paging tool must say about itself: `PagingTool`. Pure: no models, no requests.

A tool is one subclass in one module of this package, listed once in `tools.REGISTRY`. The
services, views, URLs, API schema, admin and `create_integration` ask the registry, never
the kind's name, so a new tool touches its own module, the registry line and its tests.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from failover.intake.events import Event
from failover.secrets import digest

# Header names (lower case) that carry credentials for any tool: never stored with a delivery.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def entries(secrets: Any, field: str) -> list[str]:
    """The stored secrets' values under `field` ("sha256" or "fernet"), skipping junk."""
    return [
        s[field] for s in secrets or [] if isinstance(s, Mapping) and isinstance(s.get(field), str)
    ]


def matches_digest(presented: str | None, secrets: Any) -> bool:
    """Whether a presented secret is one of the stored SHA-256 digests (constant time each)."""
    if not presented:
        return False
    presented_digest = digest(presented).encode()
    return any(
        hmac.compare_digest(presented_digest, entry.encode())
        for entry in entries(secrets, "sha256")
    )


class PagingTool:
    """One paging tool: how its deliveries prove who sent them, what they mean, when one is
    the same delivery again, and how its secret is kept. Instances hold no state."""

    kind: ClassVar[str]  # the URL segment, the stored Integration.kind and Signal.source
    label: ClassVar[str]  # how people see the kind (admin, choices)
    title: ClassVar[str]  # the tool and payload version, for the API schema
    proves_by: ClassVar[str]  # how a delivery authenticates, for the API schema
    rule_keys: ClassVar[frozenset[str]] = frozenset()  # mapping rules only this tool reads
    # Printed by `create_integration` when the secret was generated here rather than given.
    generated_secret_note: ClassVar[str] = ""

    # --- its secret ---

    def store(self, plain: str) -> dict:
        """How a secret is kept. Default: a SHA-256 digest, enough to compare a presented
        secret; a tool that must read its secret back (to sign) keeps it encrypted."""
        return {"sha256": digest(plain)}

    def authenticate(self, *, secrets: Any, rules: Mapping, headers: Mapping, body: bytes) -> bool:
        raise NotImplementedError

    def auth_failure(self, rules: Mapping) -> str:
        """What was wrong when `authenticate` said no (logged, never answered)."""
        return "wrong credentials"

    def secret_headers(self, rules: Mapping) -> set[str]:
        """Header names (lower case) that carry this tool's credentials, beyond the common ones."""
        return set()

    def rule_errors(self, rules: Mapping) -> dict[str, str]:
        """Errors in this tool's own rule keys ({"rules.<key>": why})."""
        return {}

    # --- its deliveries ---

    def delivery_key(self, payload: Any, body: bytes) -> str:
        """What makes a delivery the same one again, from its content (a header nobody signed
        cannot make a replay new); "" when nothing identifies it."""
        raise NotImplementedError

    def replay_refusal(self, payload: Any, *, now: datetime, window: timedelta) -> str | None:
        """Why an authenticated delivery must not be processed now (a replay), or None."""
        return None

    def events(self, payload: Any, rules: Mapping) -> list[Event]:
        """The native payload as events; BadPayload when it is not the tool's shape."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<PagingTool {self.kind}>"
