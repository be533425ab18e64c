"""The plan a declaration would produce, computed without saving anything, so the commander
sees before → after per record (and who must approve) before submitting."""

from __future__ import annotations

from django.utils import timezone

from approvals import policy as engine
from approvals.kinds import missing_word
from approvals.selectors import profile_of, rules_of
from failover.authorities import APPROVAL_ROLES, AUTHORITIES, ROLE_NAMES
from failover.chain import authority_chain
from failover.errors import ServiceError
from failover.planning import plan_for  # the same plan builder the declaration uses
from failover.plans import plan_hash, plan_rows


def preview(service, target_name: str, segment: str = "") -> dict:
    to_target = service.targets.filter(name=target_name).first()
    from_target = service.targets.filter(active=True).first()
    if to_target is None:
        return {"error": f"{service.name} has no target {target_name!r}"}
    if from_target is None:
        return {"error": f"{service.name} has no active target to fail over from"}
    if segment and segment not in service.customer_segments:
        return {"error": f"{service.name} has no customer segment {segment!r}"}
    chain = authority_chain(service)
    if not chain.complete:
        missing = ", ".join(AUTHORITIES[a] for a in chain.missing)
        return {"error": f"{service.name} cannot be failed over: nobody holds {missing}"}
    try:
        plan = plan_for(service, from_target, to_target, segment)
    except ServiceError as exc:
        return {"error": exc.message}
    rules = rules_of(service)
    auth_changes = engine.auth_path_changes(profile_of(from_target), profile_of(to_target))
    required = engine.required_roles(rules, auth_changes)
    breach = None
    if rules.mode == engine.PREAPPROVED_THRESHOLDS:
        now = timezone.now()
        breach = engine.find_breach(
            [
                engine.ThresholdFacts(t.pk, t.metric, t.comparison, t.value)
                for t in service.thresholds.all()
            ],
            [
                engine.SignalFacts(s.pk, s.metric, s.value, s.status, s.received_at)
                for s in service.signals.filter(
                    status="firing", received_at__gte=now - rules.signal_window
                )
            ],
            now=now,
            window=rules.signal_window,
        )
    return {
        "service": service,
        "from_target": from_target,
        "to_target": to_target,
        "rows": plan_rows(plan),
        "hash": plan_hash(plan),
        "auth_changes": auth_changes,
        "required": [
            _needed(role, n)
            for role, n in required.items()
            if not (breach and role in APPROVAL_ROLES)
        ],
        "breach": breach,
    }


def _needed(role: str, count: int) -> str:
    return f"{ROLE_NAMES[role]} {missing_word(role)}" + (f" (x{count})" if count > 1 else "")
