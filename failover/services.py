"""State changes of the core registry: declaring, re-planning, cancelling, signals.

Every function runs in one transaction, re-checks authority, writes its audit event in that
transaction and raises a `failover.errors.ServiceError` for anything it refuses.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from approvals.kinds import COUNTING_KINDS
from approvals.models import Decision, Policy
from audit.actions import (
    CONFIG_CREATED,
    REQUEST_DECLARED,
    REQUEST_REPLANNED,
    REQUEST_STATE_CHANGED,
    SIGNAL_RECEIVED,
    SIGNAL_RESOLVED,
)
from audit.context import acting_as
from audit.services import record_event
from failover.authorities import AUTHORITIES, HUMAN_AUTHORITIES
from failover.chain import authority_chain, holds
from failover.dispatch import enqueue
from failover.drift import registry_drift
from failover.errors import (
    Conflict,
    IncompleteChain,
    InvalidInput,
    NotAuthorised,
    NotFound,
    WrongState,
)
from failover.models import FailoverRequest, Metric, Service, Signal, Target
from failover.planning import plan_for
from failover.plans import (
    plan_hash,
)
from failover.precompiled import LARGEST_ID, compiled
from failover.rollback import normalise_criteria
from failover.states import ACTIVE_STATES, OPEN_STATES, State, can_transition

MAX_REASON = 5000
DEFAULT_REQUEST_TTL = timedelta(hours=4)
# Declaring queues the target's readiness checks by name: the checks are governance, a layer up.
READINESS_TASK = "approvals.readiness.tasks.run_readiness"


def lock_request(request_id: int) -> FailoverRequest:
    """Fetch and lock a request row for the rest of the transaction (its SQL written once per
    process: every decision and state change starts here)."""
    try:
        request_id = int(request_id)
    except (ValueError, TypeError):
        raise NotFound(f"no failover request {request_id}") from None
    found = None
    if 0 < request_id <= LARGEST_ID:
        query = compiled("lock-request", _locked, "pk")
        found = next(iter(query.objects(pk=request_id)), None)
    if found is None:
        raise NotFound(f"no failover request {request_id}")
    return found


def _locked(pk: int) -> QuerySet[FailoverRequest]:
    return (
        FailoverRequest.objects.select_for_update(of=("self",))
        .select_related("service__policy", "from_target", "to_target", "requester")
        .filter(pk=pk)
    )


def transition(
    request: FailoverRequest, new_state: str, *, actor, reason: str, data: dict | None = None
) -> None:
    """Move a locked request to a new state and record it. The only writer of `state`."""
    old_state = request.state
    if not can_transition(old_state, new_state):
        raise WrongState(old_state, f"move it to {new_state}")
    now = timezone.now()
    request.state = new_state
    fields = ["state", "updated_at"]
    if new_state == State.APPROVED:
        request.approved_at = now
        fields.append("approved_at")
    if new_state in (State.REJECTED, State.CANCELLED, State.EXPIRED, State.CLOSED, State.FAILED):
        request.ended_at = now
        fields.append("ended_at")
    request.save(update_fields=fields)
    record_event(
        action=REQUEST_STATE_CHANGED,
        obj=request,
        actor=actor,
        data={"from": old_state, "to": new_state, "reason": reason, **(data or {})},
    )


def _ttl(service: Service) -> timedelta:
    policy = getattr(service, "policy", None)
    return timedelta(minutes=policy.request_ttl_minutes) if policy else DEFAULT_REQUEST_TTL


def declare_request(
    *,
    actor,
    service: Service,
    target: str,
    reason: str,
    incident_ref: str = "",
    rollback_criteria: dict[str, Any] | None = None,
    segment: str = "",
    channel: str = "web",
    origin_signal: Signal | None = None,
    drill: bool = False,
    scheduled: bool = False,
) -> FailoverRequest:
    """Propose moving a service's traffic to `target` (a target name); a `drill` rehearses
    the same move on the service's drill records, through the same doors and people.

    The live records are read before the transaction (provider I/O holds no locks); the
    compare-and-swap at execution catches anything that moves in between. A real request
    always wins: a drill is refused while any request of the service is active, and declaring
    a real one cancels the service's open drill.
    """
    reason, incident_ref, segment = _clean_declaration(service, reason, incident_ref, segment)
    criteria = normalise_criteria(rollback_criteria)
    # A `scheduled` drill is declared on the policy's authority (approvals/drills.py), by an
    # account that holds none: only a drill, which still needs every human decision.
    if scheduled and not drill:
        raise InvalidInput("only a drill is opened by a schedule", {"drill": "must be true"})
    if not scheduled and not holds(actor, service, "declare"):
        raise NotAuthorised("declare", service.slug)
    chain = authority_chain(service)
    if not chain.complete:
        raise IncompleteChain(service.slug, chain.missing)
    _refuse_if_active(service, drill=drill)
    from_target, to_target = _targets_of(service, target)
    plan = plan_for(service, from_target, to_target, segment, drill=drill)
    with transaction.atomic():
        # Lock the service so two commanders cannot open competing requests at once.
        service = Service.objects.select_for_update().get(pk=service.pk)
        _refuse_if_active(service, drill=drill)
        if not service.targets.filter(pk=from_target.pk, active=True).exists():
            raise Conflict("the active target changed while declaring; declare again")
        request = FailoverRequest.objects.create(
            service=service,
            from_target=from_target,
            to_target=to_target,
            segment=segment,
            reason=reason,
            incident_ref=incident_ref,
            requester=actor,
            rollback_criteria=criteria,
            plan=plan,
            plan_hash=plan_hash(plan),
            state=State.PENDING,
            expires_at=timezone.now() + _ttl(service),
            origin_signal=origin_signal,
            drill=drill,
        )
        record_event(
            action=REQUEST_DECLARED,
            obj=request,
            actor=actor,
            data={
                "service": service.slug,
                "from_target": from_target.name,
                "to_target": to_target.name,
                "segment": segment,
                "reason": reason,
                "incident_ref": incident_ref,
                "plan_hash": request.plan_hash,
                "rollback_criteria": criteria,
                "channel": channel,
                "origin_signal": origin_signal.pk if origin_signal else None,
                "drill": drill,
            },
        )
        if not drill:
            _cancel_open_drills(service, request, actor)
        enqueue(READINESS_TASK, request.pk)
    return request


def _clean_declaration(
    service: Service, reason: str, incident_ref: str, segment: str
) -> tuple[str, str, str]:
    errors = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = "say why you are failing over"
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"at most {MAX_REASON} characters"
    incident_ref = (incident_ref or "").strip()
    if len(incident_ref) > 200:
        errors["incident_ref"] = "at most 200 characters"
    segment = (segment or "").strip()
    if segment and segment not in service.customer_segments:
        known = ", ".join(service.customer_segments) or "none"
        errors["segment"] = f"unknown segment; known: {known}"
    if errors:
        raise InvalidInput("the failover request is invalid", errors)
    return reason, incident_ref, segment


def _targets_of(service: Service, target: str) -> tuple[Target, Target]:
    """The active target it fails over from and the named one it fails over to."""
    try:
        to_target = service.targets.get(name=target)
    except Target.DoesNotExist:
        known = ", ".join(service.targets.values_list("name", flat=True))
        raise InvalidInput(
            "unknown target", {"target": f"no target {target!r}; known: {known}"}
        ) from None
    from_target = service.targets.filter(active=True).first()
    if from_target is None:
        raise Conflict(f"service '{service.slug}' has no active target to fail over from")
    return from_target, to_target


def _refuse_if_active(service: Service, *, drill: bool = False) -> None:
    """One active request a service (two plans never compete for the same records); drills
    do not count against a real one, whose records they never touch."""
    active = FailoverRequest.objects.filter(service=service, state__in=ACTIVE_STATES)
    if not drill:
        active = active.filter(drill=False)
    found = active.order_by("drill").first()  # a real one first
    if found is None:
        return
    if drill and not found.drill:
        raise Conflict(
            f"service '{service.slug}' has a real failover request #{found.pk} ({found.state}):"
            " no drill while it is active; a real request always wins",
            request_id=found.pk,
        )
    kind = "drill" if found.drill else "failover request"
    raise Conflict(
        f"service '{service.slug}' already has an active {kind} #{found.pk} "
        f"({found.state}); {_way_out(found.state)}",
        request_id=found.pk,
    )


def _way_out(state: str) -> str:
    """What ends an active request, by its state: only an open one can be cancelled."""
    if state in OPEN_STATES:
        return "act on it or cancel it first"
    if state == State.APPLIED:
        return "roll it back or close it first"
    return "wait until it finishes"


def _cancel_open_drills(service: Service, real: FailoverRequest, actor: Any) -> None:
    """A real request cancels the drill still waiting for people: their attention belongs to
    the incident. A drill already moving its drill records finishes on its own."""
    for drill in FailoverRequest.objects.select_for_update().filter(
        service=service, drill=True, state__in=OPEN_STATES
    ):
        transition(
            drill,
            State.CANCELLED,
            actor=actor,
            reason=f"a real failover request #{real.pk} was declared: a real request always wins",
            data={"real_request": real.pk},
        )


def _may_manage(actor, request: FailoverRequest) -> bool:
    return actor.pk == request.requester_id or holds(actor, request.service, "declare")


def replan_request(
    *, actor, request_id: int, reason: str = "", channel: str = "web"
) -> FailoverRequest:
    """Recompute the plan from the registry and the live records as they are now (needs
    `declare`). A changed plan voids every approval made against the old one (they bind to
    its hash: they were approving a different change); an unchanged plan changes nothing."""
    request = (
        FailoverRequest.objects.select_related("service", "from_target", "to_target")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise NotFound(f"no failover request {request_id}")
    if not holds(actor, request.service, "declare"):
        raise NotAuthorised("declare", request.service.slug)
    if request.state not in OPEN_STATES:
        raise WrongState(request.state, "re-plan")
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput("the reason is too long", {"reason": f"at most {MAX_REASON} characters"})
    differences = registry_drift(request)
    plan = plan_for(
        request.service,
        request.from_target,
        request.to_target,
        request.segment,
        drill=request.drill,
    )
    new_hash = plan_hash(plan)
    with transaction.atomic():
        request = lock_request(request_id)
        if request.state not in OPEN_STATES:
            raise WrongState(request.state, "re-plan")
        if new_hash == request.plan_hash:
            return request
        old_hash = request.plan_hash
        request.plan, request.plan_hash = plan, new_hash
        request.save(update_fields=["plan", "plan_hash", "updated_at"])
        record_event(
            action=REQUEST_REPLANNED,
            obj=request,
            actor=actor,
            data={
                "old_plan_hash": old_hash,
                "plan_hash": new_hash,
                "registry_changes": differences,
                "voided_decisions": _decisions_on(request, old_hash),
                "reason": reason,
                "channel": channel,
            },
        )
        if request.state == State.APPROVED:
            transition(request, State.PENDING, actor=actor, reason="plan changed; approvals void")
    return request


def _decisions_on(request: FailoverRequest, old_hash: str) -> list[int]:
    """The approvals and sign-offs given against the old plan: they stop counting."""
    return list(
        Decision.objects.filter(
            request=request,
            plan_hash=old_hash,
            kind__in=COUNTING_KINDS,
        ).values_list("pk", flat=True)
    )


@transaction.atomic
def cancel_request(*, actor, request_id: int, reason: str = "") -> FailoverRequest:
    request = lock_request(request_id)
    if not _may_manage(actor, request):
        raise NotAuthorised("declare", request.service.slug)
    if request.state not in OPEN_STATES:
        raise WrongState(request.state, "cancel")
    transition(request, State.CANCELLED, actor=actor, reason=(reason or "").strip() or "cancelled")
    return request


@transaction.atomic
def close_request(*, actor, request_id: int, reason: str = "") -> FailoverRequest:
    """Close an applied or rolled-back request: the incident is over for this service."""
    request = lock_request(request_id)
    if not (_may_manage(actor, request) or holds(actor, request.service, "rollback")):
        raise NotAuthorised("rollback", request.service.slug)
    if request.state not in (State.APPLIED, State.ROLLED_BACK):
        raise WrongState(request.state, "close")
    transition(request, State.CLOSED, actor=actor, reason=(reason or "").strip() or "closed")
    return request


def record_signal(
    *,
    service: Service,
    metric: str,
    value: float,
    source: str = "manual",
    external_id: str = "",
    summary: str = "",
    actor=None,
) -> Signal:
    if metric not in Metric.values:
        raise InvalidInput("unknown metric", {"metric": f"one of {', '.join(Metric.values)}"})
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InvalidInput("invalid value", {"value": "must be a number"}) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput("invalid value", {"value": "must be a finite number"})
    # No savepoint: what fails from here fails the caller's transaction, and the intake worker
    # records a batch of signals in one without two more round trips each.
    with transaction.atomic(savepoint=False):
        signal = Signal.objects.create(
            service=service,
            metric=metric,
            value=value,
            source=source[:30],
            external_id=external_id[:200],
            summary=summary[:500],
            received_at=timezone.now(),
        )
        record_event(
            action=SIGNAL_RECEIVED,
            obj=signal,
            actor=actor,
            data={"service": service.slug, "metric": metric, "value": value, "source": source},
        )
    return signal


@transaction.atomic
def resolve_signal(*, signal_id: int, actor=None) -> Signal:
    signal = Signal.objects.select_for_update().get(pk=signal_id)
    if signal.status == Signal.Status.RESOLVED:
        return signal
    signal.status = Signal.Status.RESOLVED
    signal.resolved_at = timezone.now()
    signal.save(update_fields=["status", "resolved_at"])
    record_event(action=SIGNAL_RESOLVED, obj=signal, actor=actor, data={"metric": signal.metric})
    return signal


def _grant_args(service: Service, authority: str, group, user):
    if authority not in AUTHORITIES:
        raise InvalidInput("unknown authority", {"authority": f"one of {', '.join(AUTHORITIES)}"})
    if (group is None) == (user is None):
        raise InvalidInput("grant to a group or a user", {"holder": "give exactly one"})
    return f"failover.{authority}", group if group is not None else user


@transaction.atomic
def grant_authority(*, actor, service: Service, authority: str, group=None, user=None) -> None:
    """Add a holder to a service's chain (the guardian signal handler writes the audit)."""
    perm, holder = _grant_args(service, authority, group, user)
    if authority in HUMAN_AUTHORITIES and user is not None and hasattr(user, "service_account"):
        raise InvalidInput(
            f"a service account cannot hold {authority}",
            {"user": f"{user.username} is a service account: a human act needs a human"},
        )
    with acting_as(actor):
        assign_perm(perm, holder, service)


@transaction.atomic
def revoke_authority(*, actor, service: Service, authority: str, group=None, user=None) -> None:
    perm, holder = _grant_args(service, authority, group, user)
    with acting_as(actor):
        remove_perm(perm, holder, service)


@transaction.atomic
def create_service(
    *,
    actor,
    slug: str,
    name: str,
    description: str = "",
    governance_mode: str = "dual_approval",
    data_residency_region: str = "",
    customer_segments: list[str] | None = None,
) -> Service:
    """A new service, with the default policy and an empty (so incomplete) authority chain."""
    if Service.objects.filter(slug=slug).exists():
        raise Conflict(f"a service '{slug}' already exists")
    service = Service(
        slug=slug,
        name=name,
        description=description,
        governance_mode=governance_mode,
        data_residency_region=data_residency_region,
        customer_segments=list(customer_segments or []),
    )
    try:
        service.full_clean()
    except ValidationError as exc:
        raise InvalidInput(
            "the service is invalid", {k: "; ".join(v) for k, v in exc.message_dict.items()}
        ) from None
    service.save()
    Policy.objects.create(service=service)
    record_event(
        action=CONFIG_CREATED,
        obj=service,
        actor=actor,
        data={"object": str(service), "slug": slug, "governance_mode": governance_mode},
    )
    return service
