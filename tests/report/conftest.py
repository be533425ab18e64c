"""A failover taken the whole way for real: declared, readiness-checked against a local HTTPS
target, approved by availability and identity (incident response signs off: the target's
identity provider differs), executed by the executor and applied by the zone-file provider
through the worker's own steps."""

from __future__ import annotations

from datetime import timedelta

import pytest
import trustme
from django.db import connection
from django.utils import timezone

from approvals.services import record_decision
from dnsproviders import executor
from dnsproviders.models import DnsChange
from dnsproviders.readiness_services import attest_secret
from dnsproviders.readiness_tasks import run_readiness
from dnsproviders.services import execute_request
from failover.models import FailoverRequest
from failover.services import declare_request
from tests.factories import user
from tests.readiness.servers import HTTPSServer, ca_file, leaf

HOST = "shop.example.test"
SECRETS = ["tls_private_key", "oidc_client_secret"]
CRITERIA = {"min_minutes_on_target": 0, "primary_healthy_minutes": 0, "notes": "EU back first"}


def run_worker(request) -> None:
    """Drive every change of the request to an outcome, as a worker would."""
    for _ in range(50):
        pending = DnsChange.objects.filter(request=request).exclude(
            status__in=("verified", "failed")
        )
        if not pending.exists():
            return
        for change in pending:
            if change.status in ("queued", "submitting"):
                executor.apply_change(change.pk)
            else:
                executor.poll_change(change.pk)
    raise AssertionError("changes did not settle")


def tamper(sql: str, params: list) -> None:
    """Edit behind the ORM's back, as someone with a SQL prompt would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")  # bypass the trigger
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")


@pytest.fixture
def ca():
    return trustme.CA()


@pytest.fixture
def target_server(ca, tmp_path, settings):
    """A healthy failover target: valid certificate, OIDC discovery, health URL."""
    settings.READINESS_CA_BUNDLES = {"US CA": ca_file(ca, tmp_path)}
    settings.READINESS_REQUIRED_SECRETS = SECRETS
    settings.READINESS_TIMEOUT = 3
    chain, key = leaf(ca, HOST, "127.0.0.1")
    server = HTTPSServer(chain, key, {"/healthz": (200, {"ok": True})}, tmp=tmp_path)
    server.routes["/.well-known/openid-configuration"] = (
        200,
        {"issuer": server.url("/"), "jwks_uri": server.url("/jwks")},
    )
    server.routes["/jwks"] = (200, {"keys": [{"kid": "k1", "kty": "EC"}]})
    with server:
        yield server


def point_target(request, server) -> None:
    target = request.to_target
    target.address = server.address
    target.certificate_hostnames = [HOST]
    target.oidc_issuer = server.url("/")
    target.health_url = server.url("/healthz")
    target.save()


def declare(service, **extra) -> FailoverRequest:
    return declare_request(
        actor=user("declarer"),
        service=service,
        target="failover",
        reason="eu-west-1 unreachable",
        incident_ref="INC-7",
        rollback_criteria=CRITERIA,
        **extra,
    )


def approve(request, *steps) -> None:
    for who, kind, role in steps:
        record_decision(
            actor=user(who),
            request_id=request.pk,
            kind=kind,
            role=role,
            plan_hash=request.plan_hash,
            comment=f"{who} checked",
        )


APPROVALS = (
    ("avail", "approve", "availability"),
    ("identity", "approve", "identity"),
    ("ir", "sign_off", "incident_response"),
)


@pytest.fixture
def applied(service, people, target_server):
    """The request after a real failover: applied, target active, rollback check scheduled."""
    request = declare(service)
    point_target(request, target_server)
    for name in SECRETS:
        attest_secret(
            actor=people["identity"],
            target=request.to_target,
            secret_name=name,
            rotated_at=timezone.now() - timedelta(days=3),
        )
    run_readiness(request.pk)
    approve(request, *APPROVALS)
    execute_request(actor=people["executor"], request_id=request.pk)
    run_worker(request)
    request.refresh_from_db()
    assert request.state == "applied"
    return request
