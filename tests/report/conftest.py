"""A failover taken the whole way for real: declared, readiness-checked against a local HTTPS
target, approved by availability and identity (incident response signs off: the target's
identity provider differs), executed by the executor and applied by the zone-file provider
through the worker's own steps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.execution import execute_request
from approvals.readiness.services import attest_secret
from approvals.readiness.tasks import run_readiness
from approvals.services import record_decision
from failover.models import FailoverRequest
from failover.services import declare_request
from tests.factories import run_worker, user
from tests.readiness.servers import SECRETS, point_target, serve

CRITERIA = {"min_minutes_on_target": 0, "primary_healthy_minutes": 0, "notes": "EU back first"}


@pytest.fixture
def target_server(readiness_settings, ca, tmp_path):
    """A healthy failover target: valid certificate, OIDC discovery, health URL."""
    with serve(ca, tmp_path) as server:
        yield server


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
    # The target lives at the test server before it is declared: its plan is built from that.
    point_target(service.targets.get(name="failover"), target_server)
    request = declare(service)
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
