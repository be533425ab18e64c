"""The demo organisation as data: people for every role, their groups and authorities, three
services (one with a broken chain, one target with a lapsed certificate) and the local identity
provider their targets name. Seeded by seed.py, served by targets.py, and read by
failover.demo.sso.demo_provider for devidp's users."""

from __future__ import annotations

from failover.models import GovernanceMode

IDP_PORT = 8450
IDP_BASE = f"https://localhost:{IDP_PORT}"
ISSUERS = {"eu": f"{IDP_BASE}/eu", "us": f"{IDP_BASE}/us"}

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
