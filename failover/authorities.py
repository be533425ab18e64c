"""The authorities a service's chain is made of. Plain data, imported by models and logic."""

from __future__ import annotations

AUTHORITIES: dict[str, str] = {
    "declare": "Declare a failover",
    "approve_availability": "Approve as availability lead",
    "approve_identity": "Approve as identity lead",
    "veto": "Veto (identity owner)",
    "sign_off_incident_response": "Sign off for incident response",
    "sign_off_comms": "Sign off for communications",
    "execute": "Execute an approved failover",
    "rollback": "Roll back a failover",
    "break_glass": "Break glass (emergency execution with justification)",
}

# Without a holder for each of these a service cannot be failed over at all.
REQUIRED_AUTHORITIES: tuple[str, ...] = (
    "declare",
    "approve_availability",
    "approve_identity",
    "veto",
    "execute",
    "rollback",
)

# Decision roles (the REST contract's names) and the authority each needs.
ROLE_AUTHORITY: dict[str, str] = {
    "availability": "approve_availability",
    "identity": "approve_identity",
    "incident_response": "sign_off_incident_response",
    "comms": "sign_off_comms",
}
# How pages, reports and notifications name each role.
ROLE_NAMES: dict[str, str] = {
    "availability": "availability",
    "identity": "identity",
    "incident_response": "incident response",
    "comms": "communications",
}
APPROVAL_ROLES = ("availability", "identity")
SIGN_OFF_ROLES = ("incident_response", "comms")

# Acts that need a human: a service account (or its token) is never granted these, and a
# decision made with one never counts (invariant 14).
HUMAN_AUTHORITIES: frozenset[str] = frozenset(
    {
        "approve_availability",
        "approve_identity",
        "veto",
        "sign_off_incident_response",
        "sign_off_comms",
        "break_glass",
    }
)

# The other acts that move or unblock traffic: each asks the person to prove it is them again,
# through every door (invariant 13). Decision kinds say so in their spec: approvals/kinds.py
# joins both into STEP_UP_ACTS.
STEP_UP_OTHER_ACTS: frozenset[str] = frozenset(
    {
        "lift_system_veto",
        "execute",
        "rollback",
        "break_glass",
        "replan",  # a new plan clears a registry-changed block
        "attest",  # an attested rotation can clear the secrets check's system veto
    }
)
