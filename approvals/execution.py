"""Starting DNS changes: execute an approved request, roll back an applied one.

Both write their DnsChange rows (the outbox) in the transaction that decides, and enqueue the
worker on commit; a lost enqueue is re-sent by the sweeper, never lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from approvals.gate import may_go_out
from approvals.selectors import live_grant, verdict_for
from audit.actions import ROLLBACK_STARTED
from audit.services import record_event
from dnsproviders.executor import write_changes
from dnsproviders.models import DnsChange
from failover.chain import holds
from failover.errors import Blocked, NotAuthorised, PlanChanged, WrongState
from failover.models import FailoverRequest
from failover.plans import reversed_plan
from failover.services import lock_request, transition
from failover.states import OPEN_STATES, State

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def start_execution(
    request: FailoverRequest, *, actor: User | None, reason: str, data: dict | None = None
) -> None:
    """Begin applying a locked request's plan. Callers have checked the verdict and authority."""
    changes = write_changes(request, request.plan, DnsChange.Direction.FAILOVER)
    transition(
        request,
        State.EXECUTING,
        actor=actor,
        reason=reason,
        data={"plan_hash": request.plan_hash, "changes": [c.pk for c in changes], **(data or {})},
    )


@transaction.atomic
def execute_request(
    *, actor: User, request_id: int, channel: str = "web", plan_hash: str | None = None
) -> FailoverRequest:
    """Execute an open request. `plan_hash`: the plan the person reviewed, when the door knows
    it (a page or a client that showed the plan)."""
    request = lock_request(request_id)
    service = request.service
    if request.state not in OPEN_STATES:
        raise WrongState(request.state, "execute")
    if plan_hash and plan_hash != request.plan_hash:
        raise PlanChanged(request.plan_hash)
    verdict = verdict_for(request)
    # While a threshold is breached, the declarer of a pre-approved request may execute it
    # alone; a request a paging tool opened may be executed so by any holder of `declare`.
    opener = actor.pk == request.requester_id or request.origin_signal_id is not None
    may_alone = verdict.requester_may_execute_alone and opener and holds(actor, service, "declare")
    if not (holds(actor, service, "execute") or may_alone):
        message = None
        if service.governance_mode == "preapproved_thresholds" and opener:
            message = (
                "you may execute your own request alone only while one of the service's "
                "thresholds is breached and nothing blocks it; "
                + ("no threshold is breached now" if not verdict.breach else "it is blocked")
            )
        raise NotAuthorised("execute", service.slug, message)
    answer = may_go_out(request, verdict=verdict)
    if not answer:
        raise Blocked(answer.reasons)
    how = "pre-approved by a breached threshold" if verdict.preapproved else "approved"
    start_execution(
        request,
        actor=actor,
        reason=f"executed ({how})",
        data={
            "channel": channel,
            "breach": verdict.breach.description if verdict.breach else None,
        },
    )
    return request


@transaction.atomic
def rollback_request(
    *, actor: User, request_id: int, reason: str = "", channel: str = "web"
) -> FailoverRequest:
    """Put back what an applied failover replaced: the reverse plan, same machinery."""
    request = lock_request(request_id)
    # A break-glass grant lets its user undo what they did until it expires.
    under_grant = live_grant(actor, request) is not None
    if not (holds(actor, request.service, "rollback") or under_grant):
        raise NotAuthorised("rollback", request.service.slug)
    if request.state != State.APPLIED:
        raise WrongState(request.state, "roll back")
    plan = reversed_plan(request.plan)
    changes = write_changes(request, plan, DnsChange.Direction.ROLLBACK)
    transition(
        request,
        State.ROLLING_BACK,
        actor=actor,
        reason=(reason or "").strip() or "rolled back",
        data={
            "channel": channel,
            "changes": [c.pk for c in changes],
            **({"break_glass": True} if under_grant else {}),
        },
    )
    record_event(
        action=ROLLBACK_STARTED,
        obj=request,
        actor=actor,
        data={"reason": reason, "criteria_met": request.rollback_proposed_at is not None},
    )
    return request
