"""Shared plain data of the readiness checkers."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

TLS = "tls"
IDENTITY_PROVIDER = "identity_provider"
SECRETS = "secrets"
HEALTH = "health"
KINDS = (TLS, IDENTITY_PROVIDER, SECRETS, HEALTH)
IDENTITY_CRITICAL = frozenset({TLS, IDENTITY_PROVIDER, SECRETS})

DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class CheckResult:
    kind: str
    ok: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def identity_critical(self) -> bool:
        return self.kind in IDENTITY_CRITICAL


def crashed(kind: str, exc: BaseException) -> CheckResult:
    """A checker that raised instead of answering: its failed result, with the evidence."""
    message = " ".join(str(exc).split())[:1000]
    return CheckResult(
        kind,
        False,
        f"the check could not complete: {type(exc).__name__}: {message}",
        {"exception": type(exc).__name__, "message": message},
    )


def not_reported(kind: str, seconds: float, since: str) -> CheckResult:
    """A check that gave no answer in time: failed (identity-critical kinds fail closed)."""
    return CheckResult(
        kind,
        False,
        f"the check never reported: no result within {seconds:g} s of {since}",
        {"not_reported": True, "deadline_seconds": seconds, "since": since},
    )


def client_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A verifying client context: the system trust store, or only the pinned CA bundle file."""
    if ca_bundle:
        return ssl.create_default_context(cafile=str(ca_bundle))
    return ssl.create_default_context()


def split_address(address: str, default_port: int = 443) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]` or `[v6]:port` -> (host, port)."""
    address = (address or "").strip()
    if not address:
        raise ValueError("the target has no address")
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif address.count(":") == 1:
        host, port = address.split(":")
    else:
        host, port = address, ""  # a bare name, IPv4 or unbracketed IPv6 address
    if not host:
        raise ValueError(f"no host in address {address!r}")
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bad port in address {address!r}")
        return host, int(port)
    return host, default_port
