"""Seeding the demo organisation (failover/demo/data.py): its people, groups, provider account
and services, idempotently."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from approvals.models import Policy
from approvals.readiness.models import SecretAttestation
from approvals.readiness.selectors import required_secrets
from approvals.readiness.services import attest_secret
from audit.context import acting_as
from dnsproviders.models import ProviderAccount
from dnsproviders.zones import publish_zone_files
from failover.chain import holds
from failover.demo.data import GROUP_AUTHORITIES, PASSWORD, SERVICES, USERS
from failover.models import GovernedRecord, RecordValue, Service, Target, Threshold
from failover.services import grant_authority


def _user(username: str, **fields):
    user, created = get_user_model().objects.get_or_create(username=username, defaults=fields)
    if created:
        user.set_password(PASSWORD)
        user.save()
    return user


@transaction.atomic
def seed_demo() -> list[str]:
    """Create (or complete) the demo; running it again changes nothing."""
    admin = _user(
        "admin",
        first_name="Ada",
        last_name="Admin",
        email="admin@example.test",
        is_staff=True,
        is_superuser=True,
    )
    with acting_as(admin):
        groups = {
            name: Group.objects.get_or_create(name=name)[0]
            for name in {*GROUP_AUTHORITIES, "Auditors"}
        }
        for username, (first, last, group) in USERS.items():
            user = _user(
                username,
                first_name=first,
                last_name=last,
                email=f"{username}@example.test",
                is_staff=username == "auditor",
            )
            if not user.groups.filter(pk=groups[group].pk).exists():
                user.groups.add(groups[group])
        # The auditor reads everything in the admin and changes nothing.
        groups["Auditors"].permissions.add(*Permission.objects.filter(codename__startswith="view_"))

        account, _ = ProviderAccount.objects.get_or_create(
            name="embedded-zones",
            defaults={
                "kind": ProviderAccount.Kind.ZONE_FILE,
                "settings": {},
                "description": "Zone files under var/zones (the embedded default)",
            },
        )
        for spec in SERVICES:
            _service(spec, account, groups, admin)
    return [spec["slug"] for spec in SERVICES]


def _service(spec, account, groups, admin):
    service, _ = Service.objects.get_or_create(
        slug=spec["slug"],
        defaults={
            key: spec[key]
            for key in (
                "name",
                "description",
                "governance_mode",
                "data_residency_region",
                "customer_segments",
            )
        },
    )
    Policy.objects.get_or_create(service=service)
    targets = {}
    for name, role, active, address, region, issuer, trust, residency in spec["targets"]:
        targets[name], _ = Target.objects.get_or_create(
            service=service,
            name=name,
            defaults={
                "role": role,
                "active": active,
                "address": address,
                "region": region,
                "oidc_issuer": issuer,
                "certificate_trust": trust,
                "certificate_hostnames": [f"{spec['slug']}.example.test"],
                "secret_store": f"vault://{region}/{spec['slug']}",
                "data_residency_region": residency,
                "health_url": f"https://{address}/healthz",
            },
        )
    for name, rtype, values in spec["records"]:
        record, _ = GovernedRecord.objects.get_or_create(
            provider_account=account,
            zone="example.test.",
            name=name,
            rtype=rtype,
            set_identifier="",
            defaults={"service": service, "ttl": 60},
        )
        for target_name, record_values in values.items():
            RecordValue.objects.get_or_create(
                record=record, target=targets[target_name], defaults={"values": record_values}
            )
    for metric, comparison, value, description in spec["thresholds"]:
        Threshold.objects.get_or_create(
            service=service,
            metric=metric,
            defaults={"comparison": comparison, "value": value, "description": description},
        )
    for group_name, authorities in spec["authorities"].items():
        for authority in authorities:
            grant_authority(
                actor=admin, service=service, authority=authority, group=groups[group_name]
            )
    _attest_rotations(service, targets.values())
    publish_zone_files(service)


def _attest_rotations(service, targets):
    """The identity lead has attested the last rotation of each secret the targets use."""
    identity = get_user_model().objects.get(username="identity")
    if not holds(identity, service, "approve_identity"):
        return  # legacy-billing: nobody can attest, so its secrets check fails
    rotated_at = timezone.now() - timedelta(days=12)
    for target in targets:
        for secret in required_secrets(target):
            if not SecretAttestation.objects.filter(target=target, secret_name=secret).exists():
                attest_secret(
                    actor=identity,
                    target=target,
                    secret_name=secret,
                    rotated_at=rotated_at,
                    comment="quarterly rotation (demo)",
                )
