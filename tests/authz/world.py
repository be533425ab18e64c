"""The people and requests of the authorisation matrix, built once per test module (each cell
runs in a savepoint that is rolled back, so every cell sees the same world).

Every authority has a direct holder (`h_<authority>`) and a group member (`g_<authority>`) on
each matrix service, a member removed from each group (`x_<authority>`), someone holding
everything on another service only (`other`), an outsider, an auditor (audit.view, no
authority), a registrar (failover.add_service, no authority), and one service per request
state an action needs, so that no two open requests share a service."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from approvals.breakglass import break_glass
from approvals.models import Policy
from approvals.readiness.models import ReadinessCheck
from approvals.services import record_decision
from failover.authorities import AUTHORITIES
from failover.models import FailoverRequest, Service
from failover.services import declare_request, grant_authority
from tests.factories import make_service, user

PASSWORD = "matrix-pass-1"
SLUG = "matrix"  # the service declared on; it has no request of its own
OTHER = "elsewhere"
JUSTIFICATION = "approvers unreachable during the regional outage, customers are down"


def person(name: str):
    found = user(name)
    if not found.check_password(PASSWORD):
        found.set_password(PASSWORD)
        found.save(update_fields=["password"])
    return found


def _chain() -> dict[str, list[str]]:
    chain = {a: [f"h_{a}"] for a in AUTHORITIES}
    # People who make the requests and give the decisions a scenario needs, so that the
    # person under test is never the requester and never already counted.
    chain["declare"] += ["requester"]
    chain["approve_availability"] += ["a_availability"]
    chain["approve_identity"] += ["a_identity"]
    chain["sign_off_incident_response"] += ["a_ir"]
    chain["sign_off_comms"] += ["a_comms"]
    chain["veto"] += ["a_vetoer"]
    return chain


def _service(slug: str, groups: dict[str, Group]) -> Service:
    service = make_service(slug, chain=_chain(), policy={"require_comms_sign_off": True})
    Policy.objects.filter(service=service).update(execute_on_approval=False)
    for authority, group in groups.items():
        grant_authority(actor=None, service=service, authority=authority, group=group)
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


def failing_check(service) -> FailoverRequest:
    """A pending request with a failing identity-critical readiness check (a system veto)."""
    request = pending(service)
    ReadinessCheck.objects.create(
        request=request,
        target=request.to_target,
        kind="tls",
        identity_critical=True,
        ok=False,
        reason="certificate expired (matrix)",
        checked_at=timezone.now(),
    )
    return request


def glass_broken(service) -> FailoverRequest:
    """A request someone broke the glass on, its review open."""
    request = pending(service)
    break_glass(
        actor=user("h_break_glass"),
        request_id=request.pk,
        justification=JUSTIFICATION,
        plan_hash=request.plan_hash,
        channel="api",
    )
    return request


SETUPS = {
    "none": None,
    "pending": pending,
    "approved": approved,
    "vetoed": vetoed,
    "applied": applied,
    "failing_check": failing_check,
    "glass_broken": glass_broken,
}


@dataclass(frozen=True)
class Setup:
    service: Service
    request: FailoverRequest | None


def build() -> dict[str, Setup]:
    """The whole world: state -> the service (and request) an action in that state uses."""
    groups = {a: Group.objects.create(name=f"matrix {a}") for a in AUTHORITIES}
    for authority, group in groups.items():
        person(f"g_{authority}").groups.add(group)
        removed = person(f"x_{authority}")
        removed.groups.add(group)
        removed.groups.remove(group)
    world = {}
    for state, maker in SETUPS.items():
        service = _service(SLUG if maker is None else f"{SLUG}-{state}", groups)
        world[state] = Setup(service, maker(service) if maker else None)
    make_service(OTHER, chain={a: ["other"] for a in AUTHORITIES})
    for name in ("other", "outsider", *[h for names in _chain().values() for h in names]):
        person(name)
    auditor = person("auditor")
    auditor.is_staff = True
    auditor.save(update_fields=["is_staff"])
    auditor.user_permissions.add(
        Permission.objects.get(content_type__app_label="audit", codename="view_auditevent")
    )
    person("registrar").user_permissions.add(
        Permission.objects.get(content_type__app_label="failover", codename="add_service")
    )
    return world
