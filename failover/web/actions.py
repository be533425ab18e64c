"""What the viewer may do on a request right now, so the page offers exactly those buttons.

This mirrors the services layer's rules (which stay the only gate: a forged form post is
refused there); it exists so nobody is shown a button that can only fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from approvals.policy import DecisionFacts, Verdict
from failover.authorities import APPROVAL_ROLES, ROLE_AUTHORITY, STEP_UP_ACTS
from failover.models import FailoverRequest
from failover.states import OPEN_STATES, State

# These ask for the viewer's password again (step-up): they move, stop or unblock traffic.
STEP_UP_KINDS = STEP_UP_ACTS
KINDS = (
    "approve",
    "sign_off",
    "veto",
    "lift_veto",
    "reject",
    "execute",
    "rollback",
    "cancel",
    "lift_system_veto",
    "recheck",
    "attest",
    "replan",
)
ROLE_NAMES = {
    "availability": "availability",
    "identity": "identity",
    "incident_response": "incident response",
    "comms": "communications",
}


CONFIRM = {
    "approve": "Confirm approval",
    "sign_off": "Confirm sign-off",
    "veto": "Confirm veto",
    "lift_veto": "Confirm lifting the veto",
    "reject": "Confirm rejection",
    "execute": "Confirm execution",
    "rollback": "Confirm rollback",
    "cancel": "Confirm cancellation",
    "lift_system_veto": "Confirm lifting the system veto",
    "recheck": "Run the checks now",
    "attest": "Record the attestation",
    "replan": "Re-plan now",
}
VERBS = {"approve": "approve", "sign_off": "sign off", "reject": "reject", "execute": "execute"}


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
        return self.kind in STEP_UP_KINDS

    @property
    def binds_plan(self) -> bool:
        return self.kind in ("approve", "sign_off", "reject", "execute")

    @property
    def confirm(self) -> str:
        if self.executes and self.kind in ("approve", "sign_off"):
            return f"{CONFIRM[self.kind]} and execute now"
        return CONFIRM[self.kind]

    @property
    def verb(self) -> str:
        return VERBS.get(self.kind, "")

    def answers(self, hint: str) -> bool:
        """Whether a notification link's `?action=` hint means this action."""
        if hint == "approve":  # "your approval is missing" also reaches sign-off holders
            return self.kind in ("approve", "sign_off")
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
                if role in APPROVAL_ROLES:
                    label = f"Approve as {ROLE_NAMES[role]}{then}"
                    actions.append(Action("approve", label, role, executes=executes))
                else:
                    label = f"Sign off for {ROLE_NAMES[role]}{then}"
                    actions.append(Action("sign_off", label, role, executes=executes))
    by_id = {d.id: d for d in decisions}
    standing = [by_id[i] for i in verdict.standing_vetoes if i in by_id]
    if "veto" in authorities and not any(v.actor_id == user.pk for v in standing):
        actions.append(Action("veto", "Veto", reason="required", danger=True))
    for veto in standing:
        mine = veto.actor_id == user.pk
        if mine or "veto" in authorities:
            label = "Lift my veto" if mine else f"Lift {veto.actor}'s veto"
            reason = "optional" if mine else "required"
            actions.append(Action("lift_veto", label, veto_id=veto.id, reason=reason))
    if not own:
        held = [r for r in ROLE_AUTHORITY if ROLE_AUTHORITY[r] in authorities]
        if held:
            label = f"Reject as {ROLE_NAMES[held[0]]}"
            actions.append(Action("reject", label, held[0], reason="required", danger=True))
    return actions


def _may_execute(own, request, verdict, authorities) -> bool:
    if "execute" in authorities:
        return True
    # While a threshold is breached, the declarer (or anyone who may declare, for a request a
    # paging tool opened) executes a pre-approved request alone.
    opener = own or request.origin_signal_id is not None
    return verdict.requester_may_execute_alone and opener and "declare" in authorities
