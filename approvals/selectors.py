"""Reads that gather a request's facts from the database and ask the rules engine."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from approvals import policy as engine
from approvals.models import Decision, Policy
from failover.chain import authority_chain
from failover.models import FailoverRequest, Service, Target


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
    rows = Decision.objects.filter(request=request).values_list(
        "id",
        "actor_id",
        "actor__username",
        "kind",
        "role",
        "plan_hash",
        "created_at",
        "comment",
        "lifts_id",
    )
    return [engine.DecisionFacts(*row) for row in rows]


def verdict_for(request: FailoverRequest, *, now: datetime | None = None) -> engine.Verdict:
    now = now or timezone.now()
    service = request.service
    rules = rules_of(service)
    thresholds = [
        engine.ThresholdFacts(t.pk, t.metric, t.comparison, t.value)
        for t in service.thresholds.all()
    ]
    signals = [
        engine.SignalFacts(s.pk, s.metric, s.value, s.status, s.received_at)
        for s in service.signals.filter(status="firing", received_at__gte=now - rules.signal_window)
    ]
    return engine.evaluate(
        request=engine.RequestFacts(
            requester_id=request.requester_id,
            state=request.state,
            plan_hash=request.plan_hash,
            current=profile_of(request.from_target),
            target=profile_of(request.to_target),
        ),
        decisions=decision_facts(request),
        rules=rules,
        thresholds=thresholds,
        signals=signals,
        chain_missing=authority_chain(service).missing,
        now=now,
    )
