"""Step-up on the API, and the preview of a decision.

An act that moves or unblocks traffic (invariant 13) asks its caller to prove it is them,
bound to the act, the request and the plan: a browser-session caller in the body (`step_up`:
a passkey assertion, an authenticator code, ...; or `password` where local passwords are on),
as the request page does; a token by having been stepped up by its person recently
(approvals/tokens.py). An unlocked laptop must not approve over the API what it could not
approve on the page.
"""

from __future__ import annotations

from rest_framework import exceptions

from approvals.gate import executes_on
from approvals.kinds import KINDS, STEP_UP_ACTS
from approvals.selectors import verdict_for
from approvals.tokens import check_human_act
from failover.api.access import token_of
from failover.errors import InvalidInput
from failover.models import FailoverRequest
from failover.plans import plan_rows
from identity.models import StepUpProof
from identity.stepup import Binding, StepUpError, confirm, evidence_from


def require_step_up(
    request, act: str, data: dict | None = None, *, target: str = "", plan_hash: str = ""
) -> StepUpProof | None:
    """The proof a session caller confirmed `act` with (`data`: the validated body, whose
    `password` and `step_up` are taken out); None for a token whose person stepped up for it
    recently (approvals/tokens.check_human_act); else a 4xx saying how."""
    data = data if data is not None else (request.data if isinstance(request.data, dict) else {})
    evidence = evidence_from(
        {**(data.pop("step_up", None) or {}), "password": data.pop("password", None)}
    )
    if act not in STEP_UP_ACTS:
        return None
    if (token := token_of(request)) is not None:
        check_human_act(token, act)  # 403 step_up_stale / service_account, saying how to go on
        return None
    try:
        return confirm(request.user, Binding(act, target, plan_hash), evidence)
    except StepUpError as exc:
        if exc.locked:
            raise exceptions.Throttled(detail=exc.message) from None
        raise InvalidInput(
            f"{act.replace('_', ' ')} moves or unblocks traffic: confirm it is you",
            {"step_up": exc.message},
        ) from None


def decision_preview(request_id: int, data: dict) -> dict:
    """What confirming this decision would do, changing nothing: whether it executes the
    failover at once, and the records that would change."""
    obj = FailoverRequest.objects.select_related("service__policy", "from_target", "to_target").get(
        pk=request_id
    )
    verdict = verdict_for(obj)
    kind, role = data["kind"], data.get("role", "")
    executes = executes_on(obj, verdict, kind=kind, role=role)
    if executes:
        message = "confirming this executes the failover now: the records below change at once"
    elif not KINDS[kind].counts:
        message = f"a {kind.replace('_', ' ')} never executes anything"
    else:
        message = "confirming this does not execute anything by itself"
    return {
        "kind": kind,
        "role": role,
        "executes_now": executes,
        "message": message,
        "plan_hash": obj.plan_hash,
        "records": plan_rows(obj.plan) if executes else [],
    }
