"""Decisions on failover requests: approve, veto, lift a veto, sign off, reject.

Each call locks the request row, re-checks the actor's authority on the request's service,
asks the rules engine and records an audit event in the same transaction. Two people acting
at once are serialised by the row lock, so the request becomes approved exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from approvals.execution import start_execution
from approvals.fingerprints import request_facts, with_appended, with_decision
from approvals.gate import may_go_out
from approvals.kinds import COUNTING_KINDS, KINDS
from approvals.models import Decision
from approvals.policy import Verdict
from approvals.selectors import (
    Facts,
    decisions_with_deciders,
    facts_for,
    is_service_account,
    policy_of,
    verdict_for,
)
from audit.actions import DECISION_VOIDED, decision_action
from audit.services import appended_at_end, record_event
from failover.authorities import ROLE_AUTHORITY
from failover.chain import holdings, holds
from failover.errors import (
    AlreadyDecided,
    Conflict,
    InvalidInput,
    NotAuthorised,
    OwnRequest,
    PlanChanged,
    WrongState,
)
from failover.models import FailoverRequest
from failover.precompiled import keep_prefetched, prefetched_rows
from failover.services import lock_request, transition
from failover.states import OPEN_STATES, State

MAX_COMMENT = 5000
CHANNELS = tuple(Decision.Channel.values)


def _clean(kind: str, role: str, comment: str, channel: str) -> tuple[str, str, str]:
    errors = {}
    spec = KINDS.get(kind)
    if spec is None:
        errors["kind"] = f"one of {', '.join(KINDS)}"
    role = role or ""
    if spec and spec.needs_role and role not in spec.roles:
        errors["role"] = f"{kind} takes a role of {', '.join(spec.roles)}"
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        errors["comment"] = f"at most {MAX_COMMENT} characters"
    if spec and spec.needs_comment and not comment:
        errors["comment"] = f"a {kind} needs a reason"
    if channel not in CHANNELS:
        errors["channel"] = f"one of {', '.join(CHANNELS)}"
    if errors:
        raise InvalidInput("the decision is invalid", errors)
    if not spec.needs_role:  # a veto and its lift stand for the person, in no role
        role = ""
    return kind, role, comment


@dataclass(frozen=True)
class Decided:
    """A decision recorded, and the request as the decision left it at the commit: the row
    with its decisions (the new one among them), the verdict the rules engine gave once from
    the facts read under the lock, and the readiness checks it weighed. `verdict` is None once
    the request is closed (a rejection); `readiness` None when the engine did not read them."""

    decision: Decision
    request: FailoverRequest
    verdict: Verdict | None
    readiness: dict | None
    # With `watched_from`: the request's fingerprint facts read before the decision read
    # anything, and as the decision left them before the commit: those with its own row and
    # event added when it wrote nothing else, else read again (approvals/fingerprints.py).
    watched: tuple[tuple, tuple | None] | None = None


def record_decision(**kwargs: Any) -> Decision:
    """As `decide`, for a caller that needs only the decision."""
    return decide(**kwargs).decision


@transaction.atomic
def decide(
    *,
    actor,
    request_id: int,
    kind: str,
    role: str = "",
    plan_hash: str = "",
    comment: str = "",
    channel: str = "web",
    veto_id: int | None = None,
    step_up=None,
    watched_from: tuple | None = None,
) -> Decided:
    """Record a decision. `step_up`: the StepUpProof the person confirmed it with (kept with
    it). `watched_from`: the request's fingerprint facts as the caller read them before
    anything else: the decision reads them again before its commit, so the caller can tell
    whether anything but the decision moved meanwhile."""
    kind, role, comment = _clean(kind, role, comment, channel)
    if step_up is not None and (
        step_up.user_id != actor.pk
        or step_up.act != kind
        or step_up.target != f"request:{request_id}"
    ):
        raise InvalidInput("the confirmation was for another person, act or request")
    # Its audit events join the chain at the end: the chain's head, which every write in the
    # system appends behind, is held for the last round trips, not the whole decision.
    with appended_at_end() as appended:
        request = lock_request(request_id)
        saved_at = request.updated_at
        if is_service_account(actor):
            raise NotAuthorised(
                ROLE_AUTHORITY.get(role, "veto"),
                request.service.slug,
                f"a service account cannot {KINDS[kind].verb}: a human act needs a human; "
                "a person must sign in",
            )
        # The decisions with their deciders, read once under the lock: the checks below, the
        # verdict and a caller presenting the request inside this transaction all use them.
        keep_prefetched(request, "decisions", decisions_with_deciders(request.pk))
        # What the rules engine weighs, and what the actor holds, read before anything is
        # written.
        facts = None
        if kind != Decision.Kind.REJECT and request.state in OPEN_STATES:
            facts = facts_for([request], deciding=actor.pk)[request.pk]
        if kind == Decision.Kind.VETO:
            decision = _veto(actor, request, comment, channel, facts, step_up)
        elif kind == Decision.Kind.LIFT_VETO:
            decision = _lift_veto(actor, request, comment, channel, veto_id, facts, step_up)
        else:
            decision = _approve_sign_off_or_reject(
                actor, request, kind, role, plan_hash, comment, channel, facts, step_up
            )
        if facts is not None:
            facts.add(decision)
        # Only the last approval or sign-off, confirmed knowing it executes, moves traffic; a veto,
        # a lift or a rejection never does (invariant 13).
        verdict = settle(request, actor, execute=KINDS[kind].counts, facts=facts)  # None: closed
        # As the decision leaves them: the facts read first, with its row and events, when it
        # wrote nothing else (the request unsaved: no transition, no execution). Else read,
        # before its events are appended: every write in the system waits for the chain's
        # head while a decision holds it, so not for this.
        alone = request.updated_at == saved_at
        left = request_facts(request_id) if watched_from is not None and not alone else None
    watched = None
    if watched_from is not None:
        if alone:
            left = with_decision(watched_from, request_id, decision.pk, appended.rows)
        elif left is not None:  # with its events, as a read after the append would give them
            left = with_appended(left, request_id, appended.rows)
        watched = (watched_from, left if left is not None else request_facts(request_id))
    readiness = facts.readiness if facts is not None else None
    return Decided(decision, request, verdict, readiness, watched)


def _holds(actor: Any, request: FailoverRequest, authority: str, facts: Facts | None) -> bool:
    if facts is None:  # the request is closed, or a rejection: asked on its own
        return holds(actor, request.service, authority)
    return facts.holds(actor.pk, authority)


def _standing_vetoes(request: FailoverRequest) -> list[Decision]:
    decisions = request.decisions.all()  # prefetched with their deciders
    lifted = {d.lifts_id for d in decisions if d.lifts_id is not None}
    return [d for d in decisions if d.kind == Decision.Kind.VETO and d.pk not in lifted]


def _create(actor, request: FailoverRequest, **fields) -> Decision:
    decision = Decision.objects.create(actor=actor, request=request, **fields)
    # Joins the decisions read under the lock (a list of ours, `keep_prefetched`), so the
    # answer sees it without reading them again.
    prefetched_rows(request, "decisions").append(decision)
    record_event(
        action=decision_action(decision.kind),
        obj=request,
        actor=actor,
        data={
            "decision_id": decision.pk,
            "role": decision.role,
            "plan_hash": decision.plan_hash,
            "comment": decision.comment,
            "channel": decision.channel,
            "lifts": decision.lifts_id,
        },
    )
    return decision


def _approve_sign_off_or_reject(
    actor, request, kind, role, plan_hash, comment, channel, facts, step_up
):
    service = request.service
    authority = ROLE_AUTHORITY[role]
    if not _holds(actor, request, authority, facts):
        raise NotAuthorised(authority, service.slug)
    if actor.pk == request.requester_id:
        raise OwnRequest(authority, service.slug)
    if request.state not in OPEN_STATES:
        raise WrongState(request.state, KINDS[kind].verb)
    if plan_hash != request.plan_hash:
        raise PlanChanged(request.plan_hash)
    fields = {"role": role, "plan_hash": plan_hash, "comment": comment, "channel": channel}
    if kind == Decision.Kind.REJECT:
        decision = _create(actor, request, kind=kind, step_up=step_up, **fields)
        transition(request, State.REJECTED, actor=actor, reason=f"rejected as {role}: {comment}")
        return decision

    verdict = facts.verdict()
    counted_role = verdict.role_of(actor.pk, facts.decisions)
    if counted_role == role:
        raise AlreadyDecided(f"you have already given the {role} {kind.replace('_', '-')}")
    if counted_role is not None:
        raise AlreadyDecided(
            f"you already count as {counted_role} on this request; "
            "one person counts for one role only"
        )
    if role not in verdict.required:
        raise Conflict(f"this request needs no {role} {kind.replace('_', '-')}")
    if verdict.have(role) >= verdict.required[role]:
        raise AlreadyDecided(f"the {role} {kind.replace('_', '-')} is already complete")
    # Its decider holds the authority (checked above) and is a person: it joins the facts.
    return _create(actor, request, kind=kind, step_up=step_up, **fields)


def _veto(actor, request, comment, channel, facts, step_up):
    if not _holds(actor, request, "veto", facts):
        raise NotAuthorised("veto", request.service.slug)
    if request.state not in OPEN_STATES:
        raise WrongState(request.state, "veto")
    if any(v.actor_id == actor.pk for v in _standing_vetoes(request)):
        raise AlreadyDecided("your veto on this request already stands")
    # A veto binds to no plan: it stands until lifted, whatever the plan becomes.
    return _create(
        actor,
        request,
        kind=Decision.Kind.VETO,
        plan_hash=request.plan_hash,
        comment=comment,
        channel=channel,
        step_up=step_up,
    )


def _lift_veto(actor, request, comment, channel, veto_id, facts, step_up):
    vetoes = _standing_vetoes(request)
    if veto_id is not None:
        veto = next((v for v in vetoes if v.pk == veto_id), None)
        if veto is None:
            raise AlreadyDecided(f"there is no standing veto {veto_id} on this request")
    else:
        own = [v for v in vetoes if v.actor_id == actor.pk]
        if own:
            veto = own[0]
        elif len(vetoes) == 1:
            veto = vetoes[0]
        elif not vetoes:
            raise AlreadyDecided("there is no standing veto on this request")
        else:
            raise InvalidInput(
                "several vetoes stand; name the one to lift", {"veto_id": "required"}
            )
    if veto.actor_id != actor.pk:
        if not _holds(actor, request, "veto", facts):
            raise NotAuthorised("veto", request.service.slug)
        if not comment:
            raise InvalidInput(
                "lifting someone else's veto needs a reason",
                {"comment": f"say why {veto.actor.username}'s veto no longer applies"},
            )
    if request.state not in OPEN_STATES:
        raise WrongState(request.state, "lift a veto")
    return _create(
        actor,
        request,
        kind=Decision.Kind.LIFT_VETO,
        plan_hash=request.plan_hash,
        comment=comment,
        channel=channel,
        lifts=veto,
        step_up=step_up,
    )


def settle(
    request: FailoverRequest, actor, *, execute: bool = False, facts: Facts | None = None
) -> Verdict | None:
    """Bring the request's state in line with what the rules engine now says; with `execute`,
    start the change when the service's policy executes on approval and the gate allows it.
    Returns the verdict of the request as it now stands (None: it was no longer open), asked
    of one gathering of its facts (`facts`, when the caller has them) whatever the state
    becomes."""
    if request.state not in OPEN_STATES:
        return None
    if facts is None:
        facts = facts_for([request])[request.pk]
    verdict = facts.verdict()
    if request.state == State.PENDING and verdict.approvals_complete:
        transition(request, State.APPROVED, actor=actor, reason="all approvals and sign-offs given")
        verdict = facts.verdict()
    elif request.state == State.APPROVED and not verdict.approvals_complete:
        transition(request, State.PENDING, actor=actor, reason="approvals no longer complete")
        return facts.verdict()
    if not (execute and request.state == State.APPROVED):
        return verdict
    if not policy_of(request.service).execute_on_approval:
        return verdict
    if may_go_out(request, verdict=verdict):
        start_execution(
            request,
            actor=None,
            reason="executed on approval, as the service's policy says",
            data={"triggered_by": actor.username if actor else "readiness checks"},
        )
        return facts.verdict()
    return verdict


def expire_stale_requests(*, now=None) -> dict[str, int]:
    """Expire open requests past their deadline; return approved ones whose approvals lapsed
    to pending. Each request is handled in its own short transaction."""
    now = now or timezone.now()
    expired = lapsed = 0
    overdue = FailoverRequest.objects.filter(state__in=OPEN_STATES, expires_at__lte=now)
    for request_id in overdue.values_list("pk", flat=True):
        with transaction.atomic():
            request = lock_request(request_id)
            if request.state in OPEN_STATES and request.expires_at <= now:
                transition(request, State.EXPIRED, actor=None, reason="not executed in time")
                expired += 1
    approved = FailoverRequest.objects.filter(state=State.APPROVED)
    for request_id in approved.values_list("pk", flat=True):
        with transaction.atomic():
            request = lock_request(request_id)
            if (
                request.state == State.APPROVED
                and not verdict_for(request, now=now).approvals_complete
            ):
                transition(request, State.PENDING, actor=None, reason="approvals expired")
                lapsed += 1
    return {"expired": expired, "lapsed": lapsed}


def void_lapsed_decisions(*, user_ids=None, service_ids=None, cause: str = "") -> int:
    """Void the open approvals and sign-offs whose deciders no longer hold the authority they
    were made with (a grant revoked, a group left, an account disabled or made a service
    account): each is marked, audited, and its request goes back to pending if it was
    approved. Called by the signal handlers of every change to a chain, whatever the door."""
    candidates = Decision.objects.filter(
        kind__in=COUNTING_KINDS,
        voided_at__isnull=True,
        request__state__in=OPEN_STATES,
    )
    if user_ids is not None:
        candidates = candidates.filter(actor_id__in=list(user_ids))
    if service_ids is not None:
        candidates = candidates.filter(request__service_id__in=list(service_ids))
    rows = list(
        candidates.values_list("pk", "request_id", "request__service_id", "actor_id", "role")
    )
    if not rows:
        return 0
    held, machines = holdings({r[2] for r in rows}, {r[3] for r in rows})
    lapsed = [
        (pk, request_id)
        for pk, request_id, service_id, actor_id, role in rows
        if actor_id in machines
        or ROLE_AUTHORITY.get(role, "") not in held.get((service_id, actor_id), ())
    ]
    for request_id in sorted({of for _, of in lapsed}):
        request = lock_request(request_id)
        ids = [pk for pk, of in lapsed if of == request_id]
        for decision in Decision.objects.filter(pk__in=ids, voided_at__isnull=True).select_related(
            "actor"
        ):
            authority = ROLE_AUTHORITY[decision.role]
            reason = (
                f"{decision.actor.username} is a service account"
                if decision.actor_id in machines
                else f"{decision.actor.username} no longer holds {authority} on "
                f"{request.service.slug}"
            ) + (f" ({cause})" if cause else "")
            decision.voided_at = timezone.now()
            decision.voided_reason = reason[:300]
            decision.save(update_fields=["voided_at", "voided_reason"])
            record_event(
                action=DECISION_VOIDED,
                obj=request,
                actor=None,
                data={
                    "decision_id": decision.pk,
                    "kind": decision.kind,
                    "role": decision.role,
                    "decider": decision.actor.username,
                    "reason": decision.voided_reason,
                },
            )
        settle(request, None)
    return len(lapsed)
