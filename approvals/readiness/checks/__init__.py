"""Readiness checks of a failover target: pure checkers, plain data in and out, no models.

Each checker returns a `CheckResult`; the services layer stores it as evidence on the request
(`approvals.readiness.services`). TLS, identity provider and secrets are identity-critical:
a failing one places a system veto on the request.
"""

from approvals.readiness.checks.base import (
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
from approvals.readiness.checks.health import check_health
from approvals.readiness.checks.identity_drill import (
    CERT_FINGERPRINT,
    DRILL_KINDS,
    KEY_OVERLAP,
    SIGN_IN,
    check_certificate_fingerprint,
    check_key_overlap,
    check_sign_in,
)
from approvals.readiness.checks.oidc import check_identity_provider
from approvals.readiness.checks.secrets import check_secrets
from approvals.readiness.checks.tls import check_tls

__all__ = [
    "CERT_FINGERPRINT",
    "DRILL_KINDS",
    "HEALTH",
    "IDENTITY_CRITICAL",
    "IDENTITY_PROVIDER",
    "KEY_OVERLAP",
    "KINDS",
    "SECRETS",
    "SIGN_IN",
    "TLS",
    "CheckResult",
    "check_certificate_fingerprint",
    "check_health",
    "check_identity_provider",
    "check_key_overlap",
    "check_secrets",
    "check_sign_in",
    "check_tls",
    "crashed",
    "not_reported",
]
