"""Break-glass: a holder of `break_glass` executes a failover without the normal approvals.

It exists for when governance itself fails (approvers unreachable, a chain left incomplete),
so it overrides what stands in the way, but never silently: the user writes a justification,
names every standing veto in a second one, the use is flagged in the audit log, announced to
everyone whose approval was skipped (the notify app listens for `break_glass.used`) and stays
open for post-incident review until two other people, one holding `approve_identity`, have
reviewed it. The grant is time-boxed by the service's policy: until it expires its user may
also roll the request back without holding `rollback`.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Prefetch
from django.utils import timezone

from approvals.execution import start_execution
from approvals.gate import may_go_out
from approvals.models import BreakGlass, BreakGlassReview, Decision
from approvals.readiness.models import ReadinessCheck
from approvals.selectors import is_service_account, policy_of, verdict_for
from audit.actions import BREAK_GLASS_REVIEW_CLOSED, BREAK_GLASS_REVIEWED, BREAK_GLASS_USED
from audit.services import record_event
from failover.authorities import ROLE_AUTHORITY
from failover.chain import authorities_of, authority_chain, holds, services_with_authority
from failover.errors import (
    AlreadyDecided,
    Blocked,
    Conflict,
    InvalidInput,
    NotAuthorised,
    NotFound,
    PlanChanged,
    WrongState,
)
from failover.models import FailoverRequest
from failover.services import lock_request
from failover.states import OPEN_STATES, State

MIN_JUSTIFICATION = 20
MAX_TEXT = 2000
REVIEWS_NEEDED = 2
# Standing blocks break-glass may override; each is recorded in `overridden`. A veto (a
# person's or a failing readiness check's) must also be named in the veto justification.
NAMED_BLOCKS = ("veto", "system_veto")
OVERRIDABLE = (*NAMED_BLOCKS, "incomplete_chain", "readiness_pending")


def _refuse_machines(actor, service_slug: str, authority: str) -> None:
    if is_service_account(actor):
        raise NotAuthorised(
            authority,
            service_slug,
            "break-glass is a human act: a service account (or its API token) cannot use or "
            "review it; a person must sign in",
        )


def _mentions(text: str, name: str) -> bool:
    """Whether `name` stands in `text` as a word of its own ("vetoer" is not in "vetoer2")."""
    pattern = r"(?<![\w.@+-])" + re.escape(name) + r"(?![\w.@+-])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def standing_blocks(request: FailoverRequest, verdict) -> list[dict]:
    """The overridable blocks that stand, each with what a veto justification must name."""
    veto_ids = [b.decision_id for b in verdict.blocked_by if b.code == "veto"]
    check_ids = [b.check_id for b in verdict.blocked_by if b.code == "system_veto"]
    vetoers = dict(Decision.objects.filter(pk__in=veto_ids).values_list("pk", "actor__username"))
    checks = dict(ReadinessCheck.objects.filter(pk__in=check_ids).values_list("pk", "kind"))
    found = []
    for block in verdict.blocked_by:
        if block.code not in OVERRIDABLE:
            continue
        row = {"kind": block.code, "id": None, "reason": block.reason, "name": ""}
        if block.code == "veto":
            row.update(id=block.decision_id, name=vetoers.get(block.decision_id, ""))
        elif block.code == "system_veto":
            row.update(id=block.check_id, name=checks.get(block.check_id, ""))
        found.append(row)
    return found


def _names_missing(veto_justification: str, blocks: list[dict]) -> list[str]:
    missing = []
    for block in blocks:
        if block["kind"] not in NAMED_BLOCKS:
            continue
        names = [block["name"]]
        if block["kind"] == "system_veto":  # "identity_provider" or "identity provider"
            names.append(block["name"].replace("_", " "))
        if not any(n and _mentions(veto_justification, n) for n in names):
            what = "the veto of" if block["kind"] == "veto" else "the failing readiness check"
            missing.append(f"{what} {block['name'].replace('_', ' ')}")
    return missing


def skipped_approvers(request: FailoverRequest, verdict, actor) -> dict[str, list[str]]:
    """role -> the people holding its authority, whose approval break-glass goes without."""
    chain = authority_chain(request.service)
    return {
        m.role: [h for h in chain.entry(ROLE_AUTHORITY[m.role]).holders if h != actor.username]
        for m in verdict.missing
    }


def _clean_justifications(justification: str, veto_justification: str) -> tuple[str, str]:
    justification = (justification or "").strip()
    veto_justification = (veto_justification or "").strip()
    errors = {}
    if len(justification) < MIN_JUSTIFICATION:
        errors["justification"] = (
            f"say in at least {MIN_JUSTIFICATION} characters why the normal approvals "
            "cannot be waited for"
        )
    elif len(justification) > MAX_TEXT:
        errors["justification"] = f"at most {MAX_TEXT} characters"
    if len(veto_justification) > MAX_TEXT:
        errors["veto_justification"] = f"at most {MAX_TEXT} characters"
    if errors:
        raise InvalidInput("break-glass needs a written justification", errors)
    return justification, veto_justification


@transaction.atomic
def break_glass(
    *,
    actor,
    request_id: int,
    justification: str,
    veto_justification: str = "",
    plan_hash: str = "",
    channel: str = "web",
) -> BreakGlass:
    """Execute a request without its missing approvals. `plan_hash`, when given, must be the
    plan the user reviewed (as for executing normally)."""
    request = lock_request(request_id)
    service = request.service
    _refuse_machines(actor, service.slug, "break_glass")
    if not holds(actor, service, "break_glass"):
        raise NotAuthorised("break_glass", service.slug)
    if request.state == State.REJECTED:
        raise Conflict("the request was rejected: break-glass does not reopen it; declare again")
    if request.state not in OPEN_STATES:
        raise WrongState(request.state, "break glass")
    justification, veto_justification = _clean_justifications(justification, veto_justification)
    if plan_hash and plan_hash != request.plan_hash:
        raise PlanChanged(request.plan_hash)
    verdict = verdict_for(request)
    if any(b.code == "rejected" for b in verdict.blocked_by):
        raise Conflict("the request was rejected: break-glass does not reopen it; declare again")
    blocks = standing_blocks(request, verdict)
    vetoes = [b for b in blocks if b["kind"] in NAMED_BLOCKS]
    if vetoes:
        unnamed = _names_missing(veto_justification, vetoes)
        if not veto_justification or unnamed:
            names = "; ".join(unnamed or [f"{b['kind']} {b['name']}" for b in vetoes])
            raise InvalidInput(
                "a veto stands: break-glass does not bypass it silently",
                {
                    "veto_justification": "say why you override each standing veto, naming "
                    f"it: {names} (the vetoer's username, or the check's kind)"
                },
            )
    now = timezone.now()
    overridden = [{"kind": b["kind"], "id": b["id"], "reason": b["reason"]} for b in blocks]
    skipped = skipped_approvers(request, verdict, actor)
    use = BreakGlass.objects.create(
        request=request,
        actor=actor,
        justification=justification,
        veto_justification=veto_justification,
        overridden=overridden,
        skipped_roles=list(skipped),
        plan_hash=request.plan_hash,
        created_at=now,
        expires_at=now + timedelta(minutes=policy_of(service).break_glass_minutes),
    )
    record_event(
        action=BREAK_GLASS_USED,
        obj=request,
        actor=actor,
        data={
            "break_glass": True,
            "break_glass_id": use.pk,
            "justification": justification,
            "veto_justification": veto_justification,
            "overridden": overridden,
            "skipped_roles": use.skipped_roles,
            "skipped_approvers": skipped,
            "expires_at": use.expires_at,
            "plan_hash": request.plan_hash,
            "channel": channel,
        },
    )
    answer = may_go_out(request, verdict=verdict, break_glass=use)
    if not answer:
        raise Blocked(list(answer.reasons))
    start_execution(
        request,
        actor=actor,
        reason="executed under break-glass",
        data={"channel": channel, "break_glass": True, "break_glass_id": use.pk},
    )
    return use


def _lock_use(break_glass_id) -> BreakGlass:
    try:
        return (
            BreakGlass.objects.select_for_update(of=("self",))
            .select_related("request__service", "actor")
            .get(pk=break_glass_id)
        )
    except (BreakGlass.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"no break-glass use {break_glass_id}") from None


@transaction.atomic
def record_review(*, actor, break_glass_id: int, comment: str) -> BreakGlassReview:
    """One person's post-incident review. The item closes once two people other than its user
    have reviewed it, at least one of them holding `approve_identity` when they did."""
    use = _lock_use(break_glass_id)
    service = use.request.service
    _refuse_machines(actor, service.slug, "review")
    authorities = authorities_of(actor, service)
    if not authorities:
        raise NotAuthorised(
            "any",
            service.slug,
            f"only people holding authority on service '{service.slug}' review its break-glass",
        )
    if actor.pk == use.actor_id:
        raise NotAuthorised(
            "any", service.slug, "you used this break-glass: two other people must review it"
        )
    comment = (comment or "").strip()
    if not comment:
        raise InvalidInput("the review is invalid", {"comment": "say what you found"})
    if len(comment) > MAX_TEXT:
        raise InvalidInput("the review is invalid", {"comment": f"at most {MAX_TEXT} characters"})
    if use.reviews.filter(reviewer=actor).exists():
        raise AlreadyDecided("you have already reviewed this break-glass use")
    review = BreakGlassReview.objects.create(
        break_glass=use,
        reviewer=actor,
        holds_approve_identity="approve_identity" in authorities,
        comment=comment,
    )
    record_event(
        action=BREAK_GLASS_REVIEWED,
        obj=use.request,
        actor=actor,
        data={
            "break_glass_id": use.pk,
            "review_id": review.pk,
            "comment": comment,
            "holds_approve_identity": review.holds_approve_identity,
        },
    )
    reviews = list(use.reviews.exclude(reviewer_id=use.actor_id))
    if (
        use.review_open
        and len(reviews) >= REVIEWS_NEEDED
        and any(r.holds_approve_identity for r in reviews)
    ):
        use.review_closed_at = timezone.now()
        use.save(update_fields=["review_closed_at"])
        record_event(
            action=BREAK_GLASS_REVIEW_CLOSED,
            obj=use.request,
            actor=actor,
            data={"break_glass_id": use.pk, "reviewers": [r.reviewer.username for r in reviews]},
        )
    return review


# --- reads -----------------------------------------------------------------------------------


def uses_for(user, *, open_only: bool | None = None, service_ids=None):
    """Break-glass uses on the services where `user` holds any authority (or on `service_ids`,
    already narrowed by the caller), newest first, with their reviews."""
    ids = services_with_authority(user) if service_ids is None else service_ids
    queryset = (
        BreakGlass.objects.filter(request__service__in=ids)
        .select_related("request__service", "request__from_target", "request__to_target", "actor")
        .prefetch_related(Prefetch("reviews", BreakGlassReview.objects.select_related("reviewer")))
        .annotate(review_count=Count("reviews"))
        .order_by("-created_at", "-id")
    )
    if open_only is True:
        queryset = queryset.filter(review_closed_at__isnull=True)
    elif open_only is False:
        queryset = queryset.filter(review_closed_at__isnull=False)
    return queryset


def open_reviews_for(user) -> list[BreakGlass]:
    """Open review items for the dashboard, each marked with whether `user` may review it."""
    items = list(uses_for(user, open_only=True))
    for item in items:
        item.reviewed_by_user = any(r.reviewer_id == user.pk for r in item.reviews.all())
        item.may_review = item.actor_id != user.pk and not item.reviewed_by_user
    return items


def may_break_glass(user, request: FailoverRequest) -> bool:
    """Whether to offer the break-glass link: the service layer stays the only gate."""
    return request.state in OPEN_STATES and holds(user, request.service, "break_glass")
