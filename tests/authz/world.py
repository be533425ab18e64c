"""The people and requests of the authorisation matrix: one service whose every authority has
a direct holder (`h_<authority>`) and a group member (`g_<authority>`), a member removed from
each group (`x_<authority>`), someone holding everything on another service only (`other`),
an outsider, and requests in each state an action needs."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group

from approvals.models import Policy
from approvals.services import record_decision
from failover.authorities import AUTHORITIES
from failover.models import FailoverRequest, Service
from failover.services import declare_request, grant_authority
from tests.factories import make_service, user

PASSWORD = "matrix-pass-1"
SLUG = "matrix"


def person(name: str):
    found = user(name)
    if not found.check_password(PASSWORD):
        found.set_password(PASSWORD)
        found.save(update_fields=["password"])
    return found


def build() -> Service:
    chain = {a: [f"h_{a}"] for a in AUTHORITIES}
    # People who make the requests and give the decisions a scenario needs, so that the
    # person under test is never the requester and never already counted.
    chain["declare"] += ["requester"]
    chain["approve_availability"] += ["a_availability"]
    chain["approve_identity"] += ["a_identity"]
    chain["sign_off_incident_response"] += ["a_ir"]
    chain["sign_off_comms"] += ["a_comms"]
    chain["veto"] += ["a_vetoer"]
    service = make_service(SLUG, chain=chain, policy={"require_comms_sign_off": True})
    make_service("elsewhere", chain={a: ["other"] for a in AUTHORITIES})
    for authority in AUTHORITIES:
        group = Group.objects.create(name=f"matrix {authority}")
        grant_authority(actor=None, service=service, authority=authority, group=group)
        person(f"g_{authority}").groups.add(group)
        removed = person(f"x_{authority}")
        removed.groups.add(group)
        removed.groups.remove(group)
    for name in ("other", "outsider", *[h for names in chain.values() for h in names]):
        person(name)
    return service


def pending(service) -> FailoverRequest:
    return declare_request(
        actor=user("requester"), service=service, target="failover", reason="matrix"
    )


def decide(request, name, kind, role="", **extra):
    return record_decision(
        actor=user(name),
        request_id=request.pk,
        kind=kind,
        role=role,
        plan_hash=request.plan_hash,
        comment=extra.pop("comment", "matrix"),
        **extra,
    )


def approved(service) -> FailoverRequest:
    request = pending(service)
    decide(request, "a_availability", "approve", "availability")
    decide(request, "a_identity", "approve", "identity")
    decide(request, "a_ir", "sign_off", "incident_response")
    decide(request, "a_comms", "sign_off", "comms")
    request.refresh_from_db()
    assert request.state == "approved", request.state
    return request


def vetoed(service) -> FailoverRequest:
    request = pending(service)
    decide(request, "a_vetoer", "veto", comment="held for the matrix")
    return request


def applied(service) -> FailoverRequest:
    """An applied request, put there directly: the matrix tests who may roll back."""
    request = approved(service)
    FailoverRequest.objects.filter(pk=request.pk).update(state="applied")
    service.targets.update(active=False)
    service.targets.filter(pk=request.to_target_id).update(active=True)
    request.refresh_from_db()
    return request


SETUPS = {"none": None, "pending": pending, "approved": approved, "vetoed": vetoed}
SETUPS["applied"] = applied


@dataclass(frozen=True)
class Setup:
    service: Service
    request: FailoverRequest | None


def setup(state: str) -> Setup:
    service = build()
    Policy.objects.filter(service=service).update(execute_on_approval=False)
    maker = SETUPS[state]
    return Setup(service, maker(service) if maker else None)
