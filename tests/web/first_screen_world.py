"""Requests in the states a phone meets during an incident, for the first-screen tests: a
declared checkout failover whose readiness checks all passed (with the evidence a real run
records), and the same failover applied."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from approvals.execution import execute_request
from approvals.readiness.checks.base import CheckResult
from approvals.readiness.services import store_results
from approvals.services import record_decision
from dnsproviders import tasks
from dnsproviders.models import DnsChange
from failover.models import FailoverRequest, Service
from failover.services import declare_request

PHONE_SCREEN = {"width": 375, "height": 667}
DESKTOP_SCREEN = {"width": 1280, "height": 800}


def person(username: str):
    return get_user_model().objects.get(username=username)


def _tls_host(name: str) -> dict:
    return {
        "hostname": name,
        "ok": True,
        "reason": "certificate valid, trusted by the pinned CA, hostname matches",
        "subject": f"CN={name}",
        "issuer": "CN=Failover demo CA, O=Example Corp, C=US",
        "not_after": "2027-12-06T13:40:05Z",
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    }


def passed_checks(request: FailoverRequest) -> None:
    """Every readiness check of the target passed, with the facts a real run records."""
    store_results(
        request,
        request.to_target,
        [
            CheckResult(
                "tls",
                True,
                "3 hostnames serve a valid certificate",
                {"hostnames": [_tls_host(h) for h in ("checkout", "api", "login")]},
            ),
            CheckResult(
                "identity_provider",
                True,
                "the issuer publishes its discovery document and signing keys",
                {
                    "issuer": "https://idp.us-east-1.example.test/realms/checkout",
                    "discovered_issuer": "https://idp.us-east-1.example.test/realms/checkout",
                    "jwks_uri": "https://idp.us-east-1.example.test/realms/checkout/certs",
                    "jwks_keys": 2,
                },
            ),
            CheckResult(
                "secrets",
                True,
                "every required secret was rotated after the last incident",
                {
                    "secrets": [
                        {"name": "oidc-client", "ok": True, "reason": "rotated by identity"},
                        {"name": "session-key", "ok": True, "reason": "rotated by identity"},
                    ]
                },
            ),
            CheckResult("health", True, "the health URL answers 200 in 41 ms", {}),
        ],
    )


def declared_and_checked() -> FailoverRequest:
    request = declare_request(
        actor=person("ic"),
        service=Service.objects.get(slug="checkout"),
        target="failover",
        reason="eu-west-1 load balancers failing",
        incident_ref="INC-42",
    )
    passed_checks(request)
    return request


def applied() -> FailoverRequest:
    """Approved by everyone, executed and its DNS change applied in this process."""
    return finish(declared_and_checked())


def finish(request: FailoverRequest | None = None) -> FailoverRequest:
    """The (only) open request approved by everyone, executed, its DNS change applied (one
    already executing, by break-glass, only applied)."""
    request = request or FailoverRequest.objects.get(state="pending")
    request.refresh_from_db()
    if not request.readiness_checks.exists():
        passed_checks(request)
    approvals = (
        []
        if request.state != "pending"
        else [
            ("avail", "approve", "availability"),
            ("identity", "approve", "identity"),
            ("ir", "sign_off", "incident_response"),
        ]
    )
    for username, kind, role in approvals:
        record_decision(
            actor=person(username),
            request_id=request.pk,
            kind=kind,
            role=role,
            plan_hash=request.plan_hash,
        )
    request.refresh_from_db()
    if request.state not in ("executing", "applied"):
        execute_request(actor=person("executor"), request_id=request.pk, channel="web")
    for change in DnsChange.objects.filter(request=request):
        tasks.apply_change(change.pk)
    request.refresh_from_db()
    assert request.state == "applied", request.state
    return request
