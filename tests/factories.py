"""Small builders for test data: a service with targets, records and a chain in one call."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from approvals.models import Policy
from dnsproviders import tasks
from dnsproviders.models import DnsChange, ProviderAccount
from dnsproviders.zones import publish_zone_files
from failover.authorities import AUTHORITIES
from failover.models import GovernedRecord, RecordValue, Service, Target, Threshold
from failover.services import grant_authority

# One person per authority, named after it; each holds it through a group of its own.
PERSONAS = {
    "declarer": "declare",
    "avail": "approve_availability",
    "avail2": "approve_availability",
    "identity": "approve_identity",
    "identity2": "approve_identity",
    "vetoer": "veto",
    "vetoer2": "veto",
    "ir": "sign_off_incident_response",
    "comms": "sign_off_comms",
    "executor": "execute",
    "rollbacker": "rollback",
    "breakglass": "break_glass",
}


def user(username: str, **fields):
    obj, _ = get_user_model().objects.get_or_create(username=username, defaults=fields)
    return obj


def provider() -> ProviderAccount:
    account, _ = ProviderAccount.objects.get_or_create(
        name="test-zones", defaults={"kind": "zonefile", "settings": {}}
    )
    return account


def make_service(
    slug: str = "shop",
    *,
    mode: str = "dual_approval",
    auth_change: bool = True,
    chain: dict[str, list[str]] | None = None,
    policy: dict | None = None,
    thresholds: tuple[tuple[str, str, float], ...] = (),
    account: ProviderAccount | None = None,
    zone: str = "example.test.",
) -> Service:
    """A service with an active `primary` and a `failover` target and one governed A record.

    `chain` maps authority -> usernames (each granted directly); by default every persona
    holds its authority through a group named "<slug> <authority>".
    """
    service = Service.objects.create(
        slug=slug,
        name=slug.title(),
        governance_mode=mode,
        data_residency_region="eu",
        customer_segments=["retail", "enterprise"],
    )
    # Tests of approval flow stop at "approved"; execution tests turn auto-execution on.
    Policy.objects.create(service=service, **{"execute_on_approval": False, **(policy or {})})
    primary = Target.objects.create(
        service=service,
        name="primary",
        role="primary",
        active=True,
        address="198.51.100.1",
        oidc_issuer="https://login.eu.example.test/",
        certificate_trust="EU CA",
        data_residency_region="eu",
    )
    failover = Target.objects.create(
        service=service,
        name="failover",
        role="failover",
        address="203.0.113.1",
        oidc_issuer="https://login.us.example.test/" if auth_change else primary.oidc_issuer,
        certificate_trust="US CA" if auth_change else "EU CA",
        data_residency_region="us" if auth_change else "eu",
    )
    record = GovernedRecord.objects.create(
        service=service,
        provider_account=account or provider(),
        zone=zone,
        name=f"{slug}.{zone}",
        rtype="A",
        ttl=60,
    )
    RecordValue.objects.create(record=record, target=primary, values=["198.51.100.1"])
    RecordValue.objects.create(record=record, target=failover, values=["203.0.113.1"])
    for metric, comparison, value in thresholds:
        Threshold.objects.create(service=service, metric=metric, comparison=comparison, value=value)
    publish_zone_files(service)
    admin = user("chain-admin")
    if chain is None:
        for username, authority in PERSONAS.items():
            group, _ = Group.objects.get_or_create(name=f"{slug} {authority}")
            user(username).groups.add(group)
            grant_authority(actor=admin, service=service, authority=authority, group=group)
    else:
        for authority, usernames in chain.items():
            assert authority in AUTHORITIES
            for username in usernames:
                grant_authority(
                    actor=admin, service=service, authority=authority, user=user(username)
                )
    return service


def approve_all(request, *, with_ir: bool = True) -> None:
    """The decisions a factory service's chain needs, each by its persona, on the request's
    current plan: availability and identity approvals, and (`with_ir`) the incident-response
    sign-off an auth-changing target asks for."""
    from approvals.services import record_decision

    for who, kind, role in [
        ("avail", "approve", "availability"),
        ("identity", "approve", "identity"),
        ("ir", "sign_off", "incident_response"),
    ][: 3 if with_ir else 2]:
        record_decision(
            actor=user(who),
            request_id=request.pk,
            kind=kind,
            role=role,
            plan_hash=request.plan_hash,
        )


def run_worker(request) -> None:
    """Drive every DNS change of the request to an outcome, calling the executor's steps as a
    worker would."""
    for _ in range(50):
        pending = DnsChange.objects.filter(request=request).exclude(
            status__in=("verified", "failed")
        )
        if not pending.exists():
            return
        for change in pending:
            if change.status in ("queued", "submitting"):
                tasks.apply_change(change.pk)
            else:
                tasks.poll_change(change.pk)
    raise AssertionError("changes did not settle")
