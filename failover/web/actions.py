"""What the viewer may do on a request right now, so the page offers exactly those buttons.

This mirrors the services layer's rules (which stay the only gate: a forged form post is
refused there); it exists so nobody is shown a button that can only fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from approvals.kinds import COUNTING_KINDS, KINDS, STEP_UP_ACTS, kind_for_role
from approvals.models import Decision
from approvals.policy import DecisionFacts, Verdict
from failover.authorities import ROLE_AUTHORITY, ROLE_NAMES
from failover.models import FailoverRequest
from failover.states import OPEN_STATES, State

# The acts other than decisions (whose words are in their specs, approvals/kinds.py).
CONFIRM = {
    "execute": "Confirm execution",
    "rollback": "Confirm rollback",
    "cancel": "Confirm cancellation",
    "lift_system_veto": "Confirm lifting the system veto",
    "recheck": "Run the checks now",
    "attest": "Record the attestation",
    "replan": "Re-plan now",
}
ACTS = (*KINDS, *CONFIRM)


@dataclass(frozen=True)
class Action:
    kind: str
    label: str
    role: str = ""
    veto_id: int | None = None
    reason: str = "optional"  # "none", "optional" or "required"
    danger: bool = False
    check_id: int | None = None
    executes: bool = False  # confirming it moves traffic at once

    @property
    def key(self) -> str:
        return "-".join(str(p) for p in (self.kind, self.role, self.veto_id, self.check_id) if p)

    @property
    def step_up(self) -> bool:
        return self.kind in STEP_UP_ACTS

    @property
    def binds_plan(self) -> bool:
        return self.kind == "execute" or (self.kind in KINDS and KINDS[self.kind].binds_plan)

    @property
    def confirm(self) -> str:
        if self.kind not in KINDS:
            return CONFIRM[self.kind]
        if self.executes and KINDS[self.kind].counts:
            return f"{KINDS[self.kind].confirm} and execute now"
        return KINDS[self.kind].confirm

    @property
    def verb(self) -> str:
        """What the viewer does to the plan it binds ("You sign off plan …")."""
        if self.kind == "execute":
            return "execute"
        return KINDS[self.kind].verb if self.binds_plan else ""

    def answers(self, hint: str) -> bool:
        """Whether a notification link's `?action=` hint means this action."""
        if hint == Decision.Kind.APPROVE:  # "your approval is missing" reaches sign-off too
            return self.kind in COUNTING_KINDS
        return self.kind == hint


def available_actions(
    *,
    user,
    request: FailoverRequest,
    verdict: Verdict,
    decisions: Sequence[DecisionFacts],
    authorities: set[str],
    system_vetoes: Sequence = (),
    drift: Sequence[str] = (),
    may_execute: bool = False,
    executing_role: str | None = None,
) -> list[Action]:
    """`may_execute`: the gate's answer for this request now; `executing_role`: the role whose
    approval or sign-off, confirmed now, would execute the failover at once."""
    own = user.pk == request.requester_id
    actions: list[Action] = []
    if request.state in OPEN_STATES:
        actions += _decisions(user, own, verdict, decisions, authorities, executing_role)
        if "veto" in authorities:
            for check in system_vetoes:
                label = f"Lift the system veto of the {check.get_kind_display()} check"
                actions.append(
                    Action("lift_system_veto", label, check_id=check.pk, reason="required")
                )
        if may_execute and _may_execute(own, request, verdict, authorities):
            how = " (pre-approved by a breached threshold)" if verdict.preapproved else ""
            actions.append(
                Action("execute", f"Execute failover{how}", reason="none", executes=True)
            )
        if own or "declare" in authorities:
            actions.append(Action("cancel", "Cancel request", danger=True))
        if drift and "declare" in authorities:  # a new plan from the registry; approvals void
            actions.append(Action("replan", "Re-plan: the registry changed"))
        if "approve_identity" in authorities:
            actions.append(Action("attest", "Attest a secret rotation of the target"))
        if authorities:
            actions.append(Action("recheck", "Run the readiness checks again", reason="none"))
    elif request.state == State.APPLIED and "rollback" in authorities:
        actions.append(Action("rollback", "Roll back", danger=True))
    return actions


def _decisions(user, own, verdict, decisions, authorities, executing_role) -> list[Action]:
    actions = []
    if not own and verdict.role_of(user.pk, decisions) is None:
        for role, needed in verdict.required.items():
            if ROLE_AUTHORITY[role] in authorities and verdict.have(role) < needed:
                executes = role == executing_role
                then = " and execute now" if executes else ""
                kind = kind_for_role(role)
                label = _offer(kind, role) + then
                actions.append(_action(kind, label, role, executes=executes))
    by_id = {d.id: d for d in decisions}
    standing = [by_id[i] for i in verdict.standing_vetoes if i in by_id]
    veto, lift = Decision.Kind.VETO, Decision.Kind.LIFT_VETO
    if "veto" in authorities and not any(v.actor_id == user.pk for v in standing):
        actions.append(_action(veto, _offer(veto)))
    for standing_veto in standing:
        mine = standing_veto.actor_id == user.pk
        if mine or "veto" in authorities:
            # Lifting someone else's veto needs a reason (approvals/services.py).
            label = _offer(lift) if mine else f"Lift {standing_veto.actor}'s veto"
            reason = "optional" if mine else "required"
            actions.append(Action(lift, label, veto_id=standing_veto.id, reason=reason))
    if not own:
        held = [r for r in ROLE_AUTHORITY if ROLE_AUTHORITY[r] in authorities]
        # A kind given in a role that counts for nothing (a rejection) is offered once, in the
        # first of its roles the viewer holds.
        for kind, spec in KINDS.items():
            roles = [r for r in held if r in spec.roles]
            if roles and not spec.counts:
                actions.append(_action(kind, _offer(kind, roles[0]), roles[0]))
    return actions


def _offer(kind: str, role: str = "") -> str:
    return KINDS[kind].offer.format(role=ROLE_NAMES.get(role, role))


def _action(kind: str, label: str, role: str = "", **fields) -> Action:
    spec = KINDS[kind]
    reason = "required" if spec.needs_comment else "optional"
    return Action(kind, label, role, reason=reason, danger=spec.danger, **fields)


def _may_execute(own, request, verdict, authorities) -> bool:
    if "execute" in authorities:
        return True
    # While a threshold is breached, the declarer (or anyone who may declare, for a request a
    # paging tool opened) executes a pre-approved request alone.
    opener = own or request.origin_signal_id is not None
    return verdict.requester_may_execute_alone and opener and "declare" in authorities
