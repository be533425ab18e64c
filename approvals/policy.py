"""The governance rules engine.

A pure function from plain facts (the request, its decisions, the service's policy, recent
signals and what the authority chain lacks) to a verdict: what is still missing, what blocks
execution, and who may execute. No models, no database: every door and every test uses it
the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from failover.authorities import APPROVAL_ROLES, ROLE_AUTHORITY, SIGN_OFF_ROLES

DUAL_APPROVAL = "dual_approval"
PREAPPROVED_THRESHOLDS = "preapproved_thresholds"
OPEN_STATES = frozenset({"pending", "approved"})


@dataclass(frozen=True)
class Rules:
    mode: str = DUAL_APPROVAL
    required_availability: int = 1
    required_identity: int = 1
    require_comms_sign_off: bool = False
    approval_validity: timedelta = timedelta(minutes=60)
    signal_window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Profile:
    """What a user meets at a target: identity provider, certificate trust, data region."""

    oidc_issuer: str = ""
    certificate_trust: str = ""
    data_residency_region: str = ""


@dataclass(frozen=True)
class RequestFacts:
    requester_id: int
    state: str
    plan_hash: str
    current: Profile
    target: Profile


@dataclass(frozen=True)
class DecisionFacts:
    id: int
    actor_id: int
    actor: str
    kind: str
    role: str
    plan_hash: str
    created_at: datetime
    comment: str = ""
    lifts_id: int | None = None
    voided: str = ""  # why the decision was voided (its decider lost the authority), if it was
    holds_authority: bool = True  # the decider holds the role's authority now
    human: bool = True  # not a service account


@dataclass(frozen=True)
class ThresholdFacts:
    id: int
    metric: str
    comparison: str  # "gte" or "lte"
    value: float


@dataclass(frozen=True)
class SignalFacts:
    id: int
    metric: str
    value: float
    status: str  # "firing" or "resolved"
    received_at: datetime


@dataclass(frozen=True)
class SystemBlockFacts:
    """A failing identity-critical readiness check of the target, not lifted (or, with
    `check_id` None, checks that have not reported yet)."""

    check_id: int | None
    kind: str
    reason: str


@dataclass(frozen=True)
class Missing:
    role: str
    authority: str
    needed: int
    have: int


@dataclass(frozen=True)
class Block:
    code: str
    reason: str
    decision_id: int | None = None
    check_id: int | None = None


@dataclass(frozen=True)
class Discounted:
    decision_id: int
    reason: str


@dataclass(frozen=True)
class Breach:
    threshold_id: int
    signal_id: int
    description: str


@dataclass(frozen=True)
class Verdict:
    required: Mapping[str, int]
    missing: tuple[Missing, ...]
    blocked_by: tuple[Block, ...]
    counted: Mapping[int, str]  # decision id -> role it counts for
    discounted: tuple[Discounted, ...]
    auth_changes: tuple[str, ...]
    breach: Breach | None
    preapproved: bool
    approvals_complete: bool  # every required role given by people (a breach aside)
    may_execute: bool
    requester_may_execute_alone: bool
    approvals_expire_at: datetime | None
    standing_vetoes: tuple[int, ...] = field(default=())

    @property
    def requires_incident_response(self) -> bool:
        return "incident_response" in self.required

    def role_of(self, actor_id: int, decisions: Sequence[DecisionFacts]) -> str | None:
        """The role this person already counts for on the request, if any."""
        for decision in decisions:
            if decision.actor_id == actor_id and decision.id in self.counted:
                return self.counted[decision.id]
        return None

    def have(self, role: str) -> int:
        return sum(1 for r in self.counted.values() if r == role)


def auth_path_changes(current: Profile, target: Profile) -> tuple[str, ...]:
    """Reasons the move changes how users authenticate or where their data lives."""

    def norm_url(value: str) -> str:
        return value.strip().rstrip("/").lower()

    changes = []
    if norm_url(current.oidc_issuer) != norm_url(target.oidc_issuer):
        changes.append(
            f"identity provider changes from {current.oidc_issuer or 'none'} "
            f"to {target.oidc_issuer or 'none'}"
        )
    if current.certificate_trust.strip() != target.certificate_trust.strip():
        changes.append(
            f"certificate trust changes from {current.certificate_trust or 'none'} "
            f"to {target.certificate_trust or 'none'}"
        )
    if (
        current.data_residency_region.strip().lower()
        != target.data_residency_region.strip().lower()
    ):
        changes.append(
            f"data residency changes from {current.data_residency_region or 'unset'} "
            f"to {target.data_residency_region or 'unset'}"
        )
    return tuple(changes)


def find_breach(
    thresholds: Sequence[ThresholdFacts],
    signals: Sequence[SignalFacts],
    *,
    now: datetime,
    window: timedelta,
) -> Breach | None:
    """The newest firing, recent signal that crosses one of the thresholds."""
    recent = sorted(
        (s for s in signals if s.status == "firing" and now - window <= s.received_at <= now),
        key=lambda s: s.received_at,
        reverse=True,
    )
    for signal in recent:
        for threshold in thresholds:
            if threshold.metric != signal.metric:
                continue
            crossed = (
                signal.value >= threshold.value
                if threshold.comparison == "gte"
                else signal.value <= threshold.value
            )
            if crossed:
                sign = ">=" if threshold.comparison == "gte" else "<="
                return Breach(
                    threshold.id,
                    signal.id,
                    f"{signal.metric} = {signal.value:g} ({sign} {threshold.value:g})",
                )
    return None


def required_roles(rules: Rules, auth_changes: Sequence[str]) -> dict[str, int]:
    required = {
        "availability": rules.required_availability,
        "identity": rules.required_identity,
    }
    if auth_changes:
        required["incident_response"] = 1
    if rules.require_comms_sign_off:
        required["comms"] = 1
    return required


def _expected_kind(role: str) -> str:
    return "approve" if role in APPROVAL_ROLES else "sign_off"


@dataclass
class _Tally:
    """The approvals and sign-offs sorted into those that count and those that do not."""

    counted: dict[int, str] = field(default_factory=dict)  # decision id -> role
    discounted: list[Discounted] = field(default_factory=list)
    stale: dict[str, list[Block]] = field(default_factory=dict)  # role -> why it lapsed
    expiries: list[datetime] = field(default_factory=list)


def _standing_blocks(
    decisions: Sequence[DecisionFacts],
    chain_missing: Sequence[str],
    system_blocks: Sequence[SystemBlockFacts],
) -> tuple[list[Block], list[DecisionFacts]]:
    """What stops the request whatever the approvals: an incomplete chain, vetoes not lifted,
    failing readiness checks, rejections. Returns the blocks and the standing vetoes."""
    blocks: list[Block] = []
    if chain_missing:
        blocks.append(
            Block(
                "incomplete_chain",
                "the authority chain is incomplete: nobody holds " + ", ".join(chain_missing),
            )
        )
    lifted = {d.lifts_id for d in decisions if d.kind == "lift_veto" and d.lifts_id}
    vetoes = [d for d in decisions if d.kind == "veto" and d.id not in lifted]
    for veto in vetoes:
        reason = f"vetoed by {veto.actor}" + (f": {veto.comment}" if veto.comment else "")
        blocks.append(Block("veto", reason, veto.id))
    for system in system_blocks:
        if system.check_id is None:
            blocks.append(Block("readiness_pending", system.reason))
        else:
            blocks.append(
                Block(
                    "system_veto",
                    f"readiness check {system.kind} failed: {system.reason}",
                    check_id=system.check_id,
                )
            )
    for reject in (d for d in decisions if d.kind == "reject"):
        blocks.append(Block("rejected", f"rejected by {reject.actor}: {reject.comment}", reject.id))
    return blocks, vetoes


def _tally(
    request: RequestFacts,
    decisions: Sequence[DecisionFacts],
    rules: Rules,
    required: Mapping[str, int],
    now: datetime,
) -> _Tally:
    """Count each person once, for a role they hold now, on the current plan, unexpired."""
    tally = _Tally()
    person_role: dict[int, str] = {}
    positive = sorted(
        (d for d in decisions if d.kind in ("approve", "sign_off")),
        key=lambda d: (d.created_at, d.id),
    )
    for d in positive:
        expires_at = d.created_at + rules.approval_validity
        if d.role not in ROLE_AUTHORITY or d.kind != _expected_kind(d.role):
            tally.discounted.append(
                Discounted(d.id, f"{d.kind} is not a valid decision for {d.role!r}")
            )
        elif d.actor_id == request.requester_id:
            tally.discounted.append(
                Discounted(d.id, "the requester cannot approve their own request")
            )
        elif not d.human:
            tally.discounted.append(
                Discounted(d.id, f"{d.actor} is a service account: a human act needs a human")
            )
        elif d.voided or not d.holds_authority:
            why = d.voided or f"{d.actor} no longer holds {ROLE_AUTHORITY[d.role]}"
            _lapse(tally, d, why, "authority_lost", f"no longer counts: {why}")
        elif d.plan_hash != request.plan_hash:
            _lapse(
                tally, d, "made against an earlier plan", "plan_changed", "was for an earlier plan"
            )
        elif expires_at <= now:
            _lapse(
                tally,
                d,
                f"expired at {expires_at.isoformat()}",
                "approval_expired",
                f"expired at {expires_at:%H:%M} UTC",
            )
        elif d.actor_id in person_role:
            tally.discounted.append(
                Discounted(d.id, f"{d.actor} already counts as {person_role[d.actor_id]}")
            )
        else:
            tally.counted[d.id] = d.role
            person_role[d.actor_id] = d.role
            if d.role in required:
                tally.expiries.append(expires_at)
    return tally


def _lapse(tally: _Tally, d: DecisionFacts, why: str, code: str, says: str) -> None:
    """A decision that counted once and no longer does: discounted, and a block on its role
    while the role is still missing."""
    tally.discounted.append(Discounted(d.id, why))
    tally.stale.setdefault(d.role, []).append(
        Block(code, f"{d.role} {d.kind} by {d.actor} {says}", d.id)
    )


def evaluate(
    *,
    request: RequestFacts,
    decisions: Sequence[DecisionFacts],
    rules: Rules,
    thresholds: Sequence[ThresholdFacts] = (),
    signals: Sequence[SignalFacts] = (),
    chain_missing: Sequence[str] = (),
    system_blocks: Sequence[SystemBlockFacts] = (),
    now: datetime,
) -> Verdict:
    auth_changes = auth_path_changes(request.current, request.target)
    required = required_roles(rules, auth_changes)
    blocks, vetoes = _standing_blocks(decisions, chain_missing, system_blocks)
    tally = _tally(request, decisions, rules, required, now)

    have = {role: sum(1 for r in tally.counted.values() if r == role) for role in required}
    breach = None
    if rules.mode == PREAPPROVED_THRESHOLDS:
        breach = find_breach(thresholds, signals, now=now, window=rules.signal_window)
    preapproved = breach is not None

    missing = []
    for role, needed in required.items():
        if preapproved and role in APPROVAL_ROLES:
            continue  # the breached threshold stands in for the approvals, not the sign-offs
        if have[role] < needed:
            missing.append(Missing(role, ROLE_AUTHORITY[role], needed, have[role]))
            blocks.extend(tally.stale.get(role, ()))

    approvals_complete = all(have[role] >= needed for role, needed in required.items())
    may_execute = request.state in OPEN_STATES and not missing and not blocks
    return Verdict(
        required=required,
        missing=tuple(missing),
        blocked_by=tuple(blocks),
        counted=tally.counted,
        discounted=tuple(tally.discounted),
        auth_changes=auth_changes,
        breach=breach,
        preapproved=preapproved,
        approvals_complete=approvals_complete,
        may_execute=may_execute,
        requester_may_execute_alone=may_execute and preapproved,
        approvals_expire_at=min(tally.expiries) if tally.expiries else None,
        standing_vetoes=tuple(v.id for v in vetoes),
    )


__all__ = [
    "DUAL_APPROVAL",
    "PREAPPROVED_THRESHOLDS",
    "SIGN_OFF_ROLES",
    "Block",
    "Breach",
    "DecisionFacts",
    "Missing",
    "Profile",
    "RequestFacts",
    "Rules",
    "SignalFacts",
    "SystemBlockFacts",
    "ThresholdFacts",
    "Verdict",
    "auth_path_changes",
    "evaluate",
    "find_breach",
]
