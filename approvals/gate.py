"""May this change go out now? The one answer (invariant 16).

Every door that starts a failover (the request page, the API, the command line, execution on
the last approval, break-glass) and the worker right before it submits to the provider ask
`may_go_out`; nothing else decides. It weighs the rules engine's verdict (personal and system
vetoes, approvals that count: by people, made against this plan, not expired, by deciders who
hold the authority now; readiness), the request's state and expiry, the plan the caller acted
on, a registry that changed since the plan, and what a break-glass use overrode.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from approvals.kinds import COUNTING_KINDS, missing_word
from approvals.models import BreakGlass
from approvals.policy import Verdict
from approvals.selectors import decisions_with_deciders, policy_of, verdict_for
from failover.drift import drift_by_request, registry_drift
from failover.models import FailoverRequest
from failover.precompiled import compiled, keep_prefetched
from failover.states import OPEN_STATES, State

# Blocks that explain why an approval stopped counting: break-glass goes without the
# approvals, so these no longer stand in its way.
STALE_APPROVAL = frozenset({"plan_changed", "approval_expired", "authority_lost"})
# Overridden by kind: there is one of each at most.
BY_KIND = frozenset({"incomplete_chain", "readiness_pending"})
STAGE_STATES = {"execute": OPEN_STATES, "submit": frozenset({State.EXECUTING})}


@dataclass(frozen=True)
class Answer:
    ok: bool
    reasons: tuple[str, ...]
    verdict: Verdict
    break_glass: BreakGlass | None = None
    drift: tuple[str, ...] = ()  # what changed in the registry since the plan, in words

    def __bool__(self) -> bool:
        return self.ok


def missing_reasons(verdict: Verdict) -> list[str]:
    return [
        f"{m.role} {missing_word(m.role)} missing ({m.have}/{m.needed})" for m in verdict.missing
    ]


def break_glass_of(request: FailoverRequest) -> BreakGlass | None:
    """The break-glass use that executes this plan of the request, if any."""
    query = compiled("break-glass-of", _uses_of, "request", "plan_hash")
    found = query.objects(request=request.pk, plan_hash=request.plan_hash)
    return found[0] if found else None


def _uses_of(request: int, plan_hash: str) -> QuerySet[BreakGlass]:
    return BreakGlass.objects.filter(request_id=request, plan_hash=plan_hash).order_by("-pk")[:1]


def _not_overridden(verdict: Verdict, use: BreakGlass) -> list[str]:
    named = {(o.get("kind"), o.get("id")) for o in use.overridden}
    kinds = {o.get("kind") for o in use.overridden}
    left = []
    for block in verdict.blocked_by:
        if block.code in STALE_APPROVAL:
            continue
        if block.code in BY_KIND and block.code in kinds:
            continue
        if (block.code, block.decision_id or block.check_id) in named:
            continue
        left.append(block.reason)  # a veto placed, or a check failed, after the glass broke
    return left


def may_go_out(
    request: FailoverRequest,
    *,
    stage: str = "execute",
    plan_hash: str | None = None,
    verdict: Verdict | None = None,
    break_glass: BreakGlass | None = None,
    now: datetime | None = None,
    known: dict | None = None,
) -> Answer:
    """Whether the request's plan may be applied now. `stage` is "execute" (a door starting
    execution of an open request) or "submit" (the worker, the request executing);
    `plan_hash` the plan the caller acted on (the change row's, or the one a person reviewed);
    `break_glass` a use being recorded in this transaction (else the request's own is found);
    `known`: the request's break-glass use and drift when a list read them for many requests
    at once (`answers_for`)."""
    now = now or timezone.now()
    reasons: list[str] = []
    if request.state not in STAGE_STATES[stage]:
        reasons.append(f"the request is {request.state}")
    if plan_hash is not None and plan_hash != request.plan_hash:
        reasons.append("the plan changed since it was reviewed; review the new plan")
    if stage == "execute" and request.expires_at and request.expires_at <= now:
        reasons.append(f"the request expired at {request.expires_at:%H:%M} UTC")
    verdict = verdict or verdict_for(request, now=now)
    use = break_glass or (known["break_glass"] if known else break_glass_of(request))
    if use is None:
        reasons += [block.reason for block in verdict.blocked_by]
        reasons += missing_reasons(verdict)
    else:
        reasons += _not_overridden(verdict, use)
    drift = tuple(known["drift"] if known else registry_drift(request))
    reasons += [f"the registry changed since the plan: {d}" for d in drift]
    return Answer(not reasons, tuple(reasons), verdict, use, drift)


def why_not_submit(request_id: int, direction: str, plan_hash: str) -> str | None:
    """Why a worker must not submit a DNS change of this request now, if anything: asked on
    every delivery right before the provider is called, by the same rule every door asks."""
    expected = State.EXECUTING if direction == "failover" else State.ROLLING_BACK
    request = _submit_request(request_id)
    if request.state != expected:
        return f"the request is {request.state}, not {expected}"
    if direction == "failover":
        answer = _submit_answer(request, plan_hash)
        if not answer:
            return "; ".join(answer.reasons)
    return None


def warm_gate() -> None:
    """Ask the rule of the latest request, reading only and whatever its state, so that the
    reads of `why_not_submit` are written (once per process) before a worker's first failover
    needs them, not during it."""
    latest = FailoverRequest.objects.order_by("-pk").values_list("pk", flat=True).first()
    if latest is not None:
        request = _submit_request(latest)
        _submit_answer(request, request.plan_hash)


def _submit_request(request_id: int) -> FailoverRequest:
    # On the approve -> applied path: every read here is written once per process.
    found = compiled("submit-request", _submit_row, "pk").objects(pk=request_id)
    if not found:
        raise FailoverRequest.DoesNotExist(f"no failover request {request_id}")
    return found[0]


def _submit_answer(request: FailoverRequest, plan_hash: str) -> Answer:
    keep_prefetched(request, "decisions", decisions_with_deciders(request.pk))
    return may_go_out(request, stage="submit", plan_hash=plan_hash)


def _submit_row(pk: int) -> QuerySet[FailoverRequest]:
    return FailoverRequest.objects.select_related(
        "service__policy", "from_target", "to_target"
    ).filter(pk=pk)


def answers_for(requests, verdicts, *, now: datetime | None = None) -> dict[int, Answer]:
    """`may_go_out` for a list of requests in a fixed number of queries."""
    requests = list(requests)
    uses: dict[int, BreakGlass] = {}
    for use in BreakGlass.objects.filter(request__in=[r.pk for r in requests]).order_by("pk"):
        uses[(use.request_id, use.plan_hash)] = use
    drift = drift_by_request(requests)
    return {
        r.pk: may_go_out(
            r,
            verdict=verdicts[r.pk],
            now=now,
            known={"break_glass": uses.get((r.pk, r.plan_hash)), "drift": drift[r.pk]},
        )
        for r in requests
    }


def executes_on(
    request: FailoverRequest,
    verdict: Verdict,
    *,
    kind: str,
    role: str,
    drift: list[str] | tuple[str, ...] | None = None,
) -> bool:
    """Whether confirming this approval or sign-off would execute the failover at once: it is
    the last one missing, nothing blocks, and the service's policy executes on approval."""
    if kind not in COUNTING_KINDS or request.state not in OPEN_STATES:
        return False
    if not policy_of(request.service).execute_on_approval:
        return False
    if verdict.blocked_by or [m.role for m in verdict.missing] != [role]:
        return False
    last = verdict.missing[0]
    if drift is None:  # a caller that read it already passes it
        drift = registry_drift(request)
    return last.have + 1 >= last.needed and not drift
