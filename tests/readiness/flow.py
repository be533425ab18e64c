"""A request on a target that lives at a local test server, taken through its approvals: the
steps the readiness tests share."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from approvals.readiness import services as svc
from approvals.selectors import verdict_for
from approvals.services import record_decision
from failover.models import FailoverRequest
from failover.services import declare_request
from tests.readiness.servers import SECRETS, point_target


def declare_at(service, people, server) -> FailoverRequest:
    """Point the failover target at `server`, attest its secrets, then declare (the plan is
    built from the target as it now is)."""
    target = point_target(service.targets.get(name="failover"), server)
    for name in SECRETS:
        svc.attest_secret(
            actor=people["identity"],
            target=target,
            secret_name=name,
            rotated_at=timezone.now() - timedelta(days=2),
        )
    return declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu down"
    )


def approve_all(request, people) -> None:
    """Every approval and sign-off the request needs (its target changes the auth path)."""
    for name, kind, role in (
        ("avail", "approve", "availability"),
        ("identity", "approve", "identity"),
        ("ir", "sign_off", "incident_response"),
    ):
        record_decision(
            actor=people[name],
            request_id=request.pk,
            kind=kind,
            role=role,
            plan_hash=request.plan_hash,
        )


def codes(request) -> list[str]:
    return [b.code for b in verdict_for(FailoverRequest.objects.get(pk=request.pk)).blocked_by]
