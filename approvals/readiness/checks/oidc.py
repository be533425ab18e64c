"""Identity-provider readiness: the OIDC discovery document and the JWKS it points to."""

from __future__ import annotations

import ssl
from collections.abc import Sequence

from approvals.readiness.checks import http
from approvals.readiness.checks.base import (
    DEFAULT_TIMEOUT,
    IDENTITY_PROVIDER,
    CheckResult,
    client_context,
)
from approvals.readiness.checks.http import origin

WELL_KNOWN = "/.well-known/openid-configuration"


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + WELL_KNOWN


def check_identity_provider(
    *,
    issuer: str,
    ca_bundle: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    jwks_origins: Sequence[str] = (),
) -> CheckResult:
    """The discovery document is reachable over verified TLS, names exactly `issuer`, and its
    `jwks_uri` is reachable over TLS and holds at least one key. The `jwks_uri` must share
    the issuer's origin unless `jwks_origins` lists its origin ("*": any): the discovery
    document is the IdP's word, and it must not send the worker anywhere else."""
    details: dict = {"issuer": issuer, "ca_bundle": ca_bundle or ""}

    def fail(reason: str) -> CheckResult:
        return CheckResult(IDENTITY_PROVIDER, False, reason, details)

    if not issuer:
        return fail("the target has no OIDC issuer")
    try:
        context = client_context(ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        return fail(f"cannot load CA bundle {ca_bundle!r}: {exc}")
    url = discovery_url(issuer)
    details["discovery_url"] = url
    try:
        response = http.get(url, context=context, timeout=timeout)
        details["discovery_status"] = response.status
        if response.status != 200:
            return fail(f"discovery document at {url} answered HTTP {response.status}")
        document = response.json()
    except http.FetchError as exc:
        details.update(exc.evidence)
        return fail(str(exc))
    if not isinstance(document, dict):
        return fail("discovery document is not a JSON object")
    found = document.get("issuer")
    details["discovered_issuer"] = found
    if found != issuer:
        return fail(f"discovery document names issuer {found!r}, expected exactly {issuer!r}")
    jwks_uri = document.get("jwks_uri")
    details["jwks_uri"] = jwks_uri
    if not isinstance(jwks_uri, str) or not jwks_uri:
        return fail("discovery document has no jwks_uri")
    allowed = {origin(url)} | {origin(o) for o in jwks_origins if o != "*"}
    if "*" not in jwks_origins and origin(jwks_uri) not in allowed:
        return fail(
            f"jwks_uri {jwks_uri} is not on the issuer's origin {origin(url)} "
            "(READINESS_JWKS_ALLOWED_ORIGINS can allow other origins)"
        )
    try:
        response = http.get(jwks_uri, context=context, timeout=timeout)
        details["jwks_status"] = response.status
        if response.status != 200:
            return fail(f"JWKS at {jwks_uri} answered HTTP {response.status}")
        jwks = response.json()
    except http.FetchError as exc:
        details.update({f"jwks_{k}": v for k, v in exc.evidence.items()})
        return fail(str(exc))
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        details["jwks_keys"] = 0
        return fail(f"JWKS at {jwks_uri} holds no keys")
    details["jwks_keys"] = len(keys)
    details["jwks_kids"] = [k.get("kid") for k in keys if isinstance(k, dict)][:20]
    return CheckResult(
        IDENTITY_PROVIDER, True, f"issuer matches; JWKS holds {len(keys)} key(s)", details
    )
