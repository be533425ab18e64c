"""Reads that gather a request's facts from the database and ask the rules engine."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from approvals import policy as engine
from approvals.kinds import COUNTING_KINDS
from approvals.models import BreakGlass, Decision, Policy
from approvals.readiness.selectors import deadline_seconds, latest_checks_by_request, vetoes_among
from failover.authorities import ROLE_AUTHORITY
from failover.chain import chain_now, holdings, holds
from failover.models import FailoverRequest, Service, Signal, Target, Threshold
from failover.precompiled import compiled


def is_service_account(user) -> bool:
    """Read through the user's reverse one-to-one, which Django caches on the instance: the
    authority checks that follow (failover.chain.authorities_of) ask the same of it."""
    return getattr(user, "pk", None) is not None and hasattr(user, "service_account")


def policy_of(service: Service) -> Policy:
    """The service's policy, or the defaults when none was written down."""
    try:
        return service.policy
    except Policy.DoesNotExist:
        return Policy(service=service)


def rules_of(service: Service) -> engine.Rules:
    policy = policy_of(service)
    return engine.Rules(
        mode=service.governance_mode,
        required_availability=policy.required_availability,
        required_identity=policy.required_identity,
        require_comms_sign_off=policy.require_comms_sign_off,
        approval_validity=timedelta(minutes=policy.approval_validity_minutes),
        signal_window=timedelta(minutes=policy.signal_window_minutes),
    )


def profile_of(target: Target) -> engine.Profile:
    return engine.Profile(
        oidc_issuer=target.oidc_issuer,
        certificate_trust=target.certificate_trust,
        data_residency_region=target.data_residency_region,
    )


def decision_facts(request: FailoverRequest) -> list[engine.DecisionFacts]:
    return decision_facts_by_request([request.pk])[request.pk]


def verdict_for(
    request: FailoverRequest, *, now: datetime | None = None, readiness=None
) -> engine.Verdict:
    return verdicts_for([request], now=now, readiness=readiness)[request.pk]


FACT_FIELDS = (
    "id",
    "actor_id",
    "actor__username",
    "kind",
    "role",
    "plan_hash",
    "created_at",
    "comment",
    "lifts_id",
    "voided_reason",
)


def decision_facts_by_request(request_ids) -> dict[int, list[engine.DecisionFacts]]:
    """Each request's decisions as the rules engine reads them, in one query."""
    found: dict[int, list[engine.DecisionFacts]] = defaultdict(list)
    rows = (
        Decision.objects.filter(request__in=list(request_ids))
        .order_by("created_at", "id")
        .values_list("request_id", *FACT_FIELDS)
    )
    for row in rows:
        found[row[0]].append(engine.DecisionFacts(*row[1:]))
    return found


def decisions_with_deciders(request_id: int) -> list[Decision]:
    """The request's decisions with their deciders, in the order the rules engine reads them
    (its SQL written once per process: every decision and every answer reads them)."""
    query = compiled("decisions-with-deciders", _with_deciders, "request")
    return cast(list[Decision], query.objects(request=request_id))


# A request's decisions with their deciders, in the order the rules engine reads them.
WITH_DECIDERS = Decision.objects.select_related("actor").order_by("created_at", "id")


def _with_deciders(request: int) -> QuerySet[Decision]:
    return WITH_DECIDERS.filter(request_id=request)


def _decision_facts(requests) -> dict[int, list[engine.DecisionFacts]]:
    """From the decisions prefetched with their actors when every request has them (the API
    and the request page do), else in one query."""
    actor = Decision._meta.get_field("actor")
    if not all(
        "decisions" in getattr(r, "_prefetched_objects_cache", {})
        and all(actor.is_cached(d) for d in r.decisions.all())
        for r in requests
    ):
        return decision_facts_by_request(r.pk for r in requests)
    return {
        r.pk: [
            engine.DecisionFacts(
                d.pk,
                d.actor_id,
                d.actor.username,
                d.kind,
                d.role,
                d.plan_hash,
                d.created_at,
                d.comment,
                d.lifts_id,
                d.voided_reason,
            )
            for d in sorted(r.decisions.all(), key=lambda d: (d.created_at, d.pk))
        ]
        for r in requests
    }


def verdicts_for(
    requests, *, now: datetime | None = None, readiness=None
) -> dict[int, engine.Verdict]:
    """Verdicts of many requests in a fixed number of queries (for lists). Load the requests
    with select_related("service__policy", "from_target", "to_target"). `readiness`: the
    latest readiness checks by request, when the caller has read them already."""
    now = now or timezone.now()
    return {
        pk: facts.verdict(now)
        for pk, facts in facts_for(requests, readiness=readiness, now=now).items()
    }


@dataclass
class Facts:
    """What the rules engine weighs for one request, gathered once: a write that changes the
    request's state (approved, executing) asks again from the same facts, and a decision it
    records joins them (`add`), without reading any of it twice."""

    request: FailoverRequest
    decisions: list[engine.DecisionFacts]
    thresholds: list[engine.ThresholdFacts]
    signals: list[engine.SignalFacts]
    chain_missing: tuple[str, ...]
    system_blocks: list[engine.SystemBlockFacts]
    # The latest readiness check of each kind, when they were read for the system blocks.
    readiness: dict | None = None
    # What each decider (and the person deciding now, `facts_for(deciding=)`) holds on the
    # request's service now: read with the chain, so a decision's authority check costs no
    # query of its own.
    held: dict[int, set[str]] = field(default_factory=dict)

    def holds(self, user_id: int, authority: str) -> bool:
        """As failover/chain.holds, for a user whose holdings were read with the facts."""
        return authority in self.held.get(user_id, ())

    def verdict(self, now: datetime | None = None) -> engine.Verdict:
        r = self.request
        return engine.evaluate(
            request=engine.RequestFacts(
                requester_id=r.requester_id,
                state=r.state,
                plan_hash=r.plan_hash,
                current=profile_of(r.from_target),
                target=profile_of(r.to_target),
            ),
            decisions=self.decisions,
            rules=rules_of(r.service),
            thresholds=self.thresholds,
            signals=self.signals,
            chain_missing=self.chain_missing,
            system_blocks=self.system_blocks,
            now=now or timezone.now(),
        )

    def add(self, decision: Decision) -> None:
        """A decision just recorded by a person holding its role's authority (the caller
        checked both)."""
        self.decisions.append(
            engine.DecisionFacts(
                decision.pk,
                decision.actor_id,
                decision.actor.username,
                decision.kind,
                decision.role,
                decision.plan_hash,
                decision.created_at,
                decision.comment,
                decision.lifts_id,
                decision.voided_reason,
            )
        )


def facts_for(
    requests: Iterable[FailoverRequest],
    *,
    readiness: dict[int, dict] | None = None,
    now: datetime | None = None,
    deciding: int | None = None,
) -> dict[int, Facts]:
    """Each request's facts in a fixed number of queries, whatever the number of requests.
    `deciding`: a person about to decide, whose holdings are read with the deciders'."""
    requests = list(requests)
    if not requests:
        return {}
    now = now or timezone.now()
    services = {r.service_id: r.service for r in requests}
    decisions = _decision_facts(requests)
    # Thresholds and signals count only where a breach pre-approves: two queries when any
    # service of the list does, none otherwise.
    preapproving = {
        pk: s for pk, s in services.items() if s.governance_mode == engine.PREAPPROVED_THRESHOLDS
    }
    thresholds: dict[int, list] = defaultdict(list)
    signals: dict[int, list] = defaultdict(list)
    if preapproving:
        for t in Threshold.objects.filter(service__in=list(preapproving)):
            thresholds[t.service_id].append(
                engine.ThresholdFacts(t.pk, t.metric, t.comparison, t.value)
            )
        longest = max(rules_of(s).signal_window for s in preapproving.values())
        for sig in Signal.objects.filter(
            service__in=list(preapproving), status="firing", received_at__gte=now - longest
        ):
            signals[sig.service_id].append(
                engine.SignalFacts(sig.pk, sig.metric, sig.value, sig.status, sig.received_at)
            )
    deciders = {
        d.actor_id for facts in decisions.values() for d in facts if d.kind in COUNTING_KINDS
    }
    missing, held, machines = chain_now(services.values(), deciders | {deciding})
    decisions = with_authority_now(requests, decisions, (held, machines))
    if readiness is None and settings.READINESS_SYSTEM_VETO:
        weighed = [r.pk for r in requests if r.state in (*engine.OPEN_STATES, "executing")]
        readiness = latest_checks_by_request(weighed) if weighed else None
    system = system_blocks_by_request(requests, readiness)
    return {
        r.pk: Facts(
            request=r,
            decisions=list(decisions[r.pk]),
            thresholds=thresholds[r.service_id],
            signals=signals[r.service_id],
            chain_missing=missing[r.service_id],
            system_blocks=list(system.get(r.pk, ())),
            readiness=readiness.get(r.pk, {}) if readiness is not None else None,
            held={user: a for (service, user), a in held.items() if service == r.service_id},
        )
        for r in requests
    }


def with_authority_now(requests, decisions, known=None) -> dict[int, list[engine.DecisionFacts]]:
    """Each request's approvals and sign-offs marked with whether their deciders hold the
    role's authority on the service now and are people (one query for all the requests, or
    none when the caller read the holdings already: `known`)."""
    deciders = {
        d.actor_id for facts in decisions.values() for d in facts if d.kind in COUNTING_KINDS
    }
    held, machines = known or holdings({r.service_id for r in requests}, deciders)
    marked = {}
    for r in requests:
        marked[r.pk] = [
            replace(
                d,
                holds_authority=ROLE_AUTHORITY.get(d.role, "")
                in held.get((r.service_id, d.actor_id), ()),
                human=d.actor_id not in machines,
            )
            if d.kind in COUNTING_KINDS
            else d
            for d in decisions[r.pk]
        ]
    return marked


def system_blocks_by_request(requests, readiness=None) -> dict[int, list[engine.SystemBlockFacts]]:
    """What the target's readiness checks hold against each open request: one block per
    failing identity-critical check not lifted, or one `pending` block while no check has
    reported yet. Off when READINESS_SYSTEM_VETO is false."""
    if not settings.READINESS_SYSTEM_VETO:
        return {}
    # Executing too: the worker asks the gate again right before it submits.
    open_ids = [r.pk for r in requests if r.state in (*engine.OPEN_STATES, "executing")]
    if not open_ids:
        return {}
    latest = readiness if readiness is not None else latest_checks_by_request(open_ids)
    deadline = timezone.now() - timedelta(seconds=deadline_seconds())
    wanted = set(open_ids)
    found: dict[int, list[engine.SystemBlockFacts]] = {}
    for request in requests:
        request_id = request.pk
        if request_id not in wanted:
            continue
        by_kind = latest.get(request_id, {})
        if not any(row.identity_critical for row in by_kind.values()):
            # Past the deadline the sweeper records them as failed; until it runs, say so.
            late = request.created_at and request.created_at < deadline
            found[request_id] = [
                engine.SystemBlockFacts(
                    None,
                    "",
                    "the readiness checks of the target have not reported yet"
                    + ("; past their deadline, they will be recorded as failed" if late else ""),
                )
            ]
            continue
        found[request_id] = [
            engine.SystemBlockFacts(row.pk, row.kind, row.reason) for row in vetoes_among(by_kind)
        ]
    return found


def live_grant(actor, request: FailoverRequest) -> BreakGlass | None:
    """The actor's break-glass grant on the request while its time box runs and they still
    hold `break_glass`: a grant does not outlive its holder's authority (invariant 14)."""
    grant = BreakGlass.objects.granting(actor=actor, request=request).first()
    if grant is None or not holds(actor, request.service, "break_glass"):
        return None
    return grant
