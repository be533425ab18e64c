"""Readiness checks of a failover target: pure checkers, plain data in and out, no models.

Each checker returns a `CheckResult`; the services layer stores it as evidence on the request
(`dnsproviders.readiness_services`). TLS, identity provider and secrets are identity-critical:
a failing one places a system veto on the request.
"""

from dnsproviders.readiness.base import (
    HEALTH,
    IDENTITY_CRITICAL,
    IDENTITY_PROVIDER,
    KINDS,
    SECRETS,
    TLS,
    CheckResult,
    crashed,
    not_reported,
)
from dnsproviders.readiness.health import check_health
from dnsproviders.readiness.oidc import check_identity_provider
from dnsproviders.readiness.secrets import check_secrets
from dnsproviders.readiness.tls import check_tls

__all__ = [
    "HEALTH",
    "IDENTITY_CRITICAL",
    "IDENTITY_PROVIDER",
    "KINDS",
    "SECRETS",
    "TLS",
    "CheckResult",
    "check_health",
    "check_identity_provider",
    "check_secrets",
    "check_tls",
    "crashed",
    "not_reported",
]
