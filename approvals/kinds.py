"""What each decision kind is, said once: the services, the pages, the API, the report and the
step-up read these specs instead of switching on the kind's name.

A new kind is its `Decision.Kind` entry (value and label), one entry in `_SPECS` below, the
service that records it if it needs its own rule, and its tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from approvals.models import Decision
from failover.authorities import (
    APPROVAL_ROLES,
    ROLE_AUTHORITY,
    SIGN_OFF_ROLES,
    STEP_UP_OTHER_ACTS,
)


@dataclass(frozen=True)
class KindSpec:
    kind: str
    label: str  # the TextChoices label ("Sign off")
    roles: tuple[str, ...]  # the roles it is given in; none: it stands for the person
    needs_comment: bool  # refused without a reason
    needs_step_up: bool  # the person proves it is them again: it moves or unblocks traffic
    binds_plan: bool  # made against the plan shown; refused once the plan changed
    counts: bool  # an approval or sign-off: counts for the policy, and the last one may execute
    danger: bool  # it stops the failover (the page shows it in red)
    noun: str  # "sign-off": what a role is missing
    past: str  # "signed off": the decision record, the timeline and the report
    confirm: str  # the button that confirms it
    offer: str  # the button that offers it; {role} is the role's name
    done: str  # what the page says once it is recorded; {role}, {plan}

    @property
    def needs_role(self) -> bool:
        return bool(self.roles)

    @property
    def verb(self) -> str:
        """In sentences: "a service account cannot sign off"."""
        return self.label.lower()


_SPECS: dict[str, dict] = {
    Decision.Kind.APPROVE: dict(
        roles=APPROVAL_ROLES,
        needs_comment=False,
        needs_step_up=True,
        binds_plan=True,
        counts=True,
        danger=False,
        noun="approval",
        past="approved",
        confirm="Confirm approval",
        offer="Approve as {role}",
        done="You approved as {role} (plan {plan}).",
    ),
    Decision.Kind.VETO: dict(
        roles=(),
        needs_comment=True,
        needs_step_up=True,
        binds_plan=False,  # it stands until lifted, whatever the plan becomes
        counts=False,
        danger=True,
        noun="veto",
        past="vetoed",
        confirm="Confirm veto",
        offer="Veto",
        done="You vetoed: nothing executes until the veto is lifted.",
    ),
    Decision.Kind.LIFT_VETO: dict(
        roles=(),
        needs_comment=False,  # lifting someone else's veto does (approvals/services.py)
        needs_step_up=True,
        binds_plan=False,
        counts=False,
        danger=False,
        noun="veto lift",
        past="lifted a veto",
        confirm="Confirm lifting the veto",
        offer="Lift my veto",
        done="The veto is lifted. Nothing was executed: moving traffic is a separate act.",
    ),
    Decision.Kind.SIGN_OFF: dict(
        roles=SIGN_OFF_ROLES,
        needs_comment=False,
        needs_step_up=True,
        binds_plan=True,
        counts=True,
        danger=False,
        noun="sign-off",
        past="signed off",
        confirm="Confirm sign-off",
        offer="Sign off for {role}",
        done="You signed off for {role} (plan {plan}).",
    ),
    Decision.Kind.REJECT: dict(
        roles=tuple(ROLE_AUTHORITY),
        needs_comment=True,
        needs_step_up=False,  # it moves no traffic and unblocks nothing
        binds_plan=True,
        counts=False,
        danger=True,
        noun="rejection",
        past="rejected",
        confirm="Confirm rejection",
        offer="Reject as {role}",
        done="You rejected the request.",
    ),
}

# Built from the TextChoices, so a kind without a spec fails at import, not at a request.
KINDS: dict[str, KindSpec] = {
    kind.value: KindSpec(kind=kind.value, label=kind.label, **_SPECS[kind])
    for kind in Decision.Kind
}
COUNTING_KINDS: tuple[str, ...] = tuple(k for k, spec in KINDS.items() if spec.counts)

# Acts that move or unblock traffic: each asks the person to prove it is them again, through
# every door (invariant 13).
STEP_UP_ACTS: frozenset[str] = STEP_UP_OTHER_ACTS | {
    k for k, spec in KINDS.items() if spec.needs_step_up
}


def kind_for_role(role: str) -> str:
    """The counting kind a role gives: approve for availability, sign_off for comms."""
    return next(k for k in COUNTING_KINDS if role in KINDS[k].roles)


def missing_word(role: str) -> str:
    """What a role gives, as a noun: "approval", "sign-off"."""
    return KINDS[kind_for_role(role)].noun


def past_tense(kind: str) -> str:
    """What a kind reads as once done ("approved"); an unknown kind (an old event's) as it is."""
    spec = KINDS.get(kind)
    return spec.past if spec else kind
