"""The demo organisation: people for every role, three services, one with a broken chain."""

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
from failover.demo_targets import ISSUERS
from failover.models import GovernanceMode, GovernedRecord, RecordValue, Service, Target, Threshold
from failover.services import grant_authority

PASSWORD = "demo"

USERS = {
    "ic": ("Iris", "Commander", "Incident commanders"),
    "avail": ("Ava", "Availability", "Availability leads"),
    "identity": ("Ian", "Identity", "Identity leads"),
    "ir": ("Ines", "Response", "Incident response"),
    "comms": ("Cole", "Comms", "Communications"),
    "executor": ("Eve", "Executor", "Executors"),
    "auditor": ("Aude", "Auditor", "Auditors"),
}

GROUP_AUTHORITIES = {
    "Incident commanders": ("declare", "break_glass"),
    "Availability leads": ("approve_availability",),
    "Identity leads": ("approve_identity", "veto"),
    "Incident response": ("sign_off_incident_response",),
    "Communications": ("sign_off_comms",),
    "Executors": ("execute", "rollback"),
}

# Its certificate lapsed yesterday: failing over to it shows the readiness system veto.
EXPIRED_CERTIFICATE = {("checkout", "standby")}

# legacy-billing: nobody was ever given identity approval, veto, execute or rollback.
LEGACY_AUTHORITIES = {
    "Incident commanders": ("declare",),
    "Availability leads": ("approve_availability",),
}

SERVICES = [
    {
        "slug": "checkout",
        "name": "Checkout",
        "description": "Payments and order placement. Fails over from EU to US: a different "
        "identity provider and data region, so incident response must sign off.",
        "governance_mode": GovernanceMode.DUAL_APPROVAL,
        "data_residency_region": "eu",
        "customer_segments": ["retail", "enterprise"],
        "targets": [
            (
                "primary",
                "primary",
                True,
                "127.0.0.1:8441",
                "eu-west-1",
                ISSUERS["eu"],
                "Example EU Issuing CA",
                "eu",
            ),
            (
                "failover",
                "failover",
                False,
                "127.0.0.1:8442",
                "us-east-1",
                ISSUERS["us"],
                "Example US Issuing CA",
                "us",
            ),
            (
                "standby",
                "regional_backup",
                False,
                "127.0.0.1:8447",
                "us-west-2",
                ISSUERS["us"],
                "Example US Issuing CA",
                "us",
            ),
        ],
        "records": [
            (
                "checkout.example.test.",
                "A",
                {
                    "primary": ["198.51.100.10"],
                    "failover": ["203.0.113.10"],
                    "standby": ["203.0.113.30"],
                },
            ),
            (
                "api.checkout.example.test.",
                "A",
                {
                    "primary": ["198.51.100.11"],
                    "failover": ["203.0.113.11"],
                    "standby": ["203.0.113.31"],
                },
            ),
        ],
        "thresholds": [],
        "authorities": GROUP_AUTHORITIES,
    },
    {
        "slug": "status-page",
        "name": "Status page",
        "description": "Public status page. Failover is pre-approved while error rate or "
        "regional loss crosses its thresholds; same identity provider on both sides.",
        "governance_mode": GovernanceMode.PREAPPROVED_THRESHOLDS,
        "data_residency_region": "eu",
        "customer_segments": [],
        "targets": [
            (
                "primary",
                "primary",
                True,
                "127.0.0.1:8443",
                "eu-west-1",
                ISSUERS["eu"],
                "Example EU Issuing CA",
                "eu",
            ),
            (
                "backup",
                "regional_backup",
                False,
                "127.0.0.1:8444",
                "eu-central-1",
                ISSUERS["eu"],
                "Example EU Issuing CA",
                "eu",
            ),
        ],
        "records": [
            (
                "status.example.test.",
                "A",
                {"primary": ["198.51.100.20"], "backup": ["198.51.100.120"]},
            ),
        ],
        "thresholds": [
            ("error_rate", "gte", 5.0, "5xx rate at or above 5% for the page"),
            ("regional_loss", "gte", 50.0, "half of eu-west-1 capacity lost"),
        ],
        "authorities": GROUP_AUTHORITIES,
    },
    {
        "slug": "legacy-billing",
        "name": "Legacy billing",
        "description": "Old invoicing system whose authority chain was never completed: it "
        "cannot be failed over until someone holds identity approval, veto, execute and rollback.",
        "governance_mode": GovernanceMode.DUAL_APPROVAL,
        "data_residency_region": "eu",
        "customer_segments": [],
        "targets": [
            (
                "primary",
                "primary",
                True,
                "127.0.0.1:8445",
                "eu-west-1",
                ISSUERS["eu"],
                "Example EU Issuing CA",
                "eu",
            ),
            (
                "dr",
                "failover",
                False,
                "127.0.0.1:8446",
                "eu-central-1",
                ISSUERS["eu"],
                "Example EU Issuing CA",
                "eu",
            ),
        ],
        "records": [
            (
                "billing.example.test.",
                "A",
                {"primary": ["198.51.100.30"], "dr": ["198.51.100.130"]},
            ),
        ],
        "thresholds": [],
        "authorities": LEGACY_AUTHORITIES,
    },
]


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
