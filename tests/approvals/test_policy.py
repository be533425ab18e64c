"""Table-driven tests of the rules engine: one case per invariant (1-5) and policy option.

Each case would fail if the rule it names were removed from approvals/policy.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from approvals.policy import (
    DecisionFacts,
    Profile,
    RequestFacts,
    Rules,
    SignalFacts,
    ThresholdFacts,
    evaluate,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PLAN = "a" * 64
EU = Profile("https://login.eu.example.test/", "EU CA", "eu")
US = Profile("https://login.us.example.test/", "US CA", "us")
REQUESTER, AVAIL, IDENTITY, IR, COMMS, VETOER, AVAIL2 = 1, 2, 3, 4, 5, 6, 7


def d(id, actor, kind, role="", *, minutes_ago=1, plan=PLAN, lifts=None, comment=""):
    return DecisionFacts(
        id=id,
        actor_id=actor,
        actor=f"user{actor}",
        kind=kind,
        role=role,
        plan_hash=plan,
        created_at=NOW - timedelta(minutes=minutes_ago),
        comment=comment,
        lifts_id=lifts,
    )


FULL = (
    d(1, AVAIL, "approve", "availability"),
    d(2, IDENTITY, "approve", "identity"),
    d(3, IR, "sign_off", "incident_response"),
)
ERROR_RATE = ThresholdFacts(1, "error_rate", "gte", 5.0)


def firing(value, *, metric="error_rate", minutes_ago=1, status="firing"):
    return SignalFacts(10, metric, value, status, NOW - timedelta(minutes=minutes_ago))


@dataclass
class Case:
    name: str
    decisions: tuple = ()
    rules: Rules = field(default_factory=Rules)
    target: Profile = US
    state: str = "pending"
    thresholds: tuple = ()
    signals: tuple = ()
    chain_missing: tuple = ()
    # expectations
    missing: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()
    may_execute: bool = False
    alone: bool = False


CASES = [
    Case("nothing decided yet", missing=("availability", "identity", "incident_response")),
    Case("availability + identity + incident response complete", FULL, may_execute=True),
    # Invariant 1: separation of duties.
    Case(
        "inv1: the requester's own approval does not count",
        (d(1, REQUESTER, "approve", "availability"), *FULL[1:]),
        missing=("availability",),
    ),
    Case(
        "inv1: one person counts for one role only",
        (
            d(1, AVAIL, "approve", "availability"),
            d(2, AVAIL, "approve", "identity", minutes_ago=0),
            FULL[2],
        ),
        missing=("identity",),
    ),
    Case(
        "inv1: one person counts for one role, sign-offs included",
        (FULL[0], FULL[1], d(3, AVAIL, "sign_off", "incident_response")),
        missing=("incident_response",),
    ),
    # Invariant 2: approvals bind to the plan.
    Case(
        "inv2: an approval of an earlier plan stops counting",
        (FULL[0], d(2, IDENTITY, "approve", "identity", plan="b" * 64), FULL[2]),
        missing=("identity",),
        blocks=("plan_changed",),
    ),
    # Invariant 3: identity veto.
    Case(
        "inv3: a standing veto blocks execution",
        (*FULL, d(4, VETOER, "veto", comment="IdP not ready")),
        blocks=("veto",),
    ),
    Case(
        "inv3: a lifted veto blocks no more",
        (*FULL, d(4, VETOER, "veto"), d(5, VETOER, "lift_veto", lifts=4)),
        may_execute=True,
    ),
    Case(
        "inv3: lifting one veto leaves the other standing",
        (*FULL, d(4, VETOER, "veto"), d(5, IDENTITY, "veto"), d(6, VETOER, "lift_veto", lifts=4)),
        blocks=("veto",),
    ),
    # Invariant 4: incident-response sign-off when auth path or residency changes.
    Case(
        "inv4: a different identity provider needs incident response",
        FULL[:2],
        target=Profile(US.oidc_issuer, EU.certificate_trust, "eu"),
        missing=("incident_response",),
    ),
    Case(
        "inv4: different certificate trust needs incident response",
        FULL[:2],
        target=Profile(EU.oidc_issuer, "US CA", "eu"),
        missing=("incident_response",),
    ),
    Case(
        "inv4: a different data-residency region needs incident response",
        FULL[:2],
        target=Profile(EU.oidc_issuer, EU.certificate_trust, "us"),
        missing=("incident_response",),
    ),
    Case("inv4: same auth path and region need no sign-off", FULL[:2], target=EU, may_execute=True),
    # Invariant 5: approvals expire.
    Case(
        "inv5: an approval older than the validity window stops counting",
        (d(1, AVAIL, "approve", "availability", minutes_ago=61), *FULL[1:]),
        missing=("availability",),
        blocks=("approval_expired",),
    ),
    Case(
        "inv5: the window is the policy's",
        (d(1, AVAIL, "approve", "availability", minutes_ago=61), *FULL[1:]),
        rules=Rules(approval_validity=timedelta(minutes=90)),
        may_execute=True,
    ),
    # Policy options.
    Case(
        "policy: two availability approvals needed, one given",
        FULL,
        rules=Rules(required_availability=2),
        missing=("availability",),
    ),
    Case(
        "policy: two availability approvals from two people",
        (*FULL, d(4, AVAIL2, "approve", "availability")),
        rules=Rules(required_availability=2),
        may_execute=True,
    ),
    Case(
        "policy: two approvals by the same person count once",
        (*FULL, d(4, AVAIL, "approve", "availability")),
        rules=Rules(required_availability=2),
        missing=("availability",),
    ),
    Case(
        "policy: comms sign-off when the policy asks for it",
        FULL,
        rules=Rules(require_comms_sign_off=True),
        missing=("comms",),
    ),
    Case(
        "policy: comms sign-off given",
        (*FULL, d(4, COMMS, "sign_off", "comms")),
        rules=Rules(require_comms_sign_off=True),
        may_execute=True,
    ),
    Case(
        "preapproved: a breached threshold lets the declarer execute alone",
        (),
        rules=Rules(mode="preapproved_thresholds"),
        target=EU,
        thresholds=(ERROR_RATE,),
        signals=(firing(7.5),),
        may_execute=True,
        alone=True,
    ),
    Case(
        "preapproved: the identity veto still applies",
        (d(4, VETOER, "veto"),),
        rules=Rules(mode="preapproved_thresholds"),
        target=EU,
        thresholds=(ERROR_RATE,),
        signals=(firing(7.5),),
        blocks=("veto",),
    ),
    Case(
        "preapproved: below the threshold, approvals are needed",
        (),
        rules=Rules(mode="preapproved_thresholds"),
        target=EU,
        thresholds=(ERROR_RATE,),
        signals=(firing(2.0),),
        missing=("availability", "identity"),
    ),
    Case(
        "preapproved: a signal older than the window is no breach",
        (),
        rules=Rules(mode="preapproved_thresholds"),
        target=EU,
        thresholds=(ERROR_RATE,),
        signals=(firing(9.0, minutes_ago=20),),
        missing=("availability", "identity"),
    ),
    Case(
        "preapproved: a resolved signal is no breach",
        (),
        rules=Rules(mode="preapproved_thresholds"),
        target=EU,
        thresholds=(ERROR_RATE,),
        signals=(firing(9.0, status="resolved"),),
        missing=("availability", "identity"),
    ),
    Case(
        "preapproved: an at-most threshold",
        (),
        rules=Rules(mode="preapproved_thresholds"),
        target=EU,
        thresholds=(ThresholdFacts(2, "regional_loss", "lte", 10.0),),
        signals=(firing(5.0, metric="regional_loss"),),
        may_execute=True,
        alone=True,
    ),
    Case(
        "preapproved: incident response still signs off an auth change",
        (),
        rules=Rules(mode="preapproved_thresholds"),
        target=US,
        thresholds=(ERROR_RATE,),
        signals=(firing(7.5),),
        missing=("incident_response",),
    ),
    Case(
        "dual approval ignores breaches",
        (),
        target=EU,
        thresholds=(ERROR_RATE,),
        signals=(firing(50.0),),
        missing=("availability", "identity"),
    ),
    Case(
        "an incomplete authority chain blocks execution",
        FULL,
        chain_missing=("execute",),
        blocks=("incomplete_chain",),
    ),
    Case(
        "a rejection blocks execution",
        (*FULL, d(4, AVAIL2, "reject", "availability", comment="wrong region")),
        blocks=("rejected",),
    ),
    Case("an applied request cannot execute again", FULL, state="applied"),
    Case(
        "a decision of the wrong kind for its role does not count",
        (d(1, AVAIL, "sign_off", "availability"), *FULL[1:]),
        missing=("availability",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rules_engine(case):
    verdict = evaluate(
        request=RequestFacts(REQUESTER, case.state, PLAN, EU, case.target),
        decisions=case.decisions,
        rules=case.rules,
        thresholds=case.thresholds,
        signals=case.signals,
        chain_missing=case.chain_missing,
        now=NOW,
    )
    assert tuple(m.role for m in verdict.missing) == case.missing
    assert tuple(sorted({b.code for b in verdict.blocked_by})) == tuple(sorted(set(case.blocks)))
    assert verdict.may_execute is case.may_execute
    assert verdict.requester_may_execute_alone is case.alone


def test_discounted_decisions_say_why():
    verdict = evaluate(
        request=RequestFacts(REQUESTER, "pending", PLAN, EU, US),
        decisions=(
            d(1, REQUESTER, "approve", "availability"),
            d(2, IDENTITY, "approve", "identity", plan="c" * 64),
        ),
        rules=Rules(),
        now=NOW,
    )
    reasons = {x.decision_id: x.reason for x in verdict.discounted}
    assert reasons == {
        1: "the requester cannot approve their own request",
        2: "made against an earlier plan",
    }


def test_missing_names_authority_and_counts():
    verdict = evaluate(
        request=RequestFacts(REQUESTER, "pending", PLAN, EU, EU),
        decisions=(FULL[0],),
        rules=Rules(required_availability=2),
        now=NOW,
    )
    (missing_avail, missing_identity) = verdict.missing
    assert (missing_avail.authority, missing_avail.have, missing_avail.needed) == (
        "approve_availability",
        1,
        2,
    )
    assert missing_identity.authority == "approve_identity"


def test_auth_changes_are_explained():
    verdict = evaluate(
        request=RequestFacts(REQUESTER, "pending", PLAN, EU, US),
        decisions=(),
        rules=Rules(),
        now=NOW,
    )
    assert len(verdict.auth_changes) == 3
    assert "identity provider changes" in verdict.auth_changes[0]
    assert verdict.requires_incident_response


def test_earliest_approval_expiry_is_reported():
    verdict = evaluate(
        request=RequestFacts(REQUESTER, "pending", PLAN, EU, US),
        decisions=(d(1, AVAIL, "approve", "availability", minutes_ago=30), *FULL[1:]),
        rules=Rules(),
        now=NOW,
    )
    assert verdict.approvals_expire_at == NOW + timedelta(minutes=30)


def test_issuer_comparison_ignores_trailing_slash_and_case():
    same = Profile("HTTPS://login.eu.example.test", "EU CA", "EU")
    verdict = evaluate(
        request=RequestFacts(REQUESTER, "pending", PLAN, EU, same),
        decisions=(),
        rules=Rules(),
        now=NOW,
    )
    assert verdict.auth_changes == ()
