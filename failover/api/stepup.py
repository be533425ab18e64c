"""Step-up on the API, and the preview of a decision.

An act that moves or unblocks traffic (invariant 13) made with a browser session (the API
also accepts the session cookie) asks for the password again, as the request page does: an
unlocked laptop must not approve over the API what it could not approve on the page. A token
is a credential its owner created, scoped and can revoke; its own step-up (a passkey bound to
the plan) is the enterprise-identity work, not this module's.
"""

from __future__ import annotations

from rest_framework import exceptions

from approvals.gate import executes_on
from approvals.selectors import verdict_for
from failover.api.access import token_of
from failover.authorities import STEP_UP_ACTS
from failover.errors import InvalidInput
from failover.models import FailoverRequest
from failover.web.present import plan_rows
from failover.web.stepup import StepUpError, confirm_password


def require_step_up(request, act: str, password: str | None = None) -> None:
    """Refuse a session caller's `act` unless `password` (else the body's) is theirs."""
    if act not in STEP_UP_ACTS or token_of(request) is not None:
        return
    if password is None:
        body = request.data if isinstance(request.data, dict) else {}
        password = body.get("password")
    if not isinstance(password, str):
        password = ""
    try:
        confirm_password(request.user, password)
    except StepUpError as exc:
        if exc.locked:
            raise exceptions.Throttled(detail=exc.message) from None
        raise InvalidInput(
            f"{act.replace('_', ' ')} moves or unblocks traffic: confirm it is you",
            {"password": exc.message},
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
    elif kind in ("lift_veto", "veto", "reject"):
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
