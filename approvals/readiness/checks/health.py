"""Health readiness: the target's health URL answers 2xx. Not identity-critical."""

from __future__ import annotations

import ssl

from approvals.readiness.checks import http
from approvals.readiness.checks.base import DEFAULT_TIMEOUT, HEALTH, CheckResult, client_context


def check_health(
    *, url: str, ca_bundle: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> CheckResult:
    details: dict = {"url": url}
    if not url:
        return CheckResult(HEALTH, False, "the target has no health URL", details)
    try:
        context = client_context(ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        return CheckResult(HEALTH, False, f"cannot load CA bundle {ca_bundle!r}: {exc}", details)
    try:
        response = http.get(url, context=context, timeout=timeout, require_https=False)
    except http.FetchError as exc:
        return CheckResult(HEALTH, False, str(exc), {**details, **exc.evidence})
    details["status"] = response.status
    details["connected_to"] = response.peer
    if 200 <= response.status < 300:
        return CheckResult(HEALTH, True, f"HTTP {response.status}", details)
    return CheckResult(HEALTH, False, f"{url} answered HTTP {response.status}", details)
