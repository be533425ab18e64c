"""What the dashboard shows, gathered in a fixed number of queries however many requests and
services the viewer sees."""

from __future__ import annotations

from approvals.gate import answers_for
from approvals.selectors import decision_facts_by_request, verdicts_for
from approvals.timings import drill_status
from failover.authorities import AUTHORITIES, ROLE_NAMES
from failover.chain import authority_chains
from failover.models import FailoverRequest, Service
from failover.states import ACTIVE_STATES, OPEN_STATES
from failover.web.actions import available_actions
from failover.web.present import authorities_held, blocks, missing_rows

# What counts as "waiting for you": giving what is missing, executing, lifting your own veto,
# rolling back once the criteria say so. Vetoing, rejecting or cancelling are always
# possible, never pending.
PENDING_KINDS = ("approve", "sign_off", "execute", "rollback", "lift_veto")
RECENT = 8


def _requests(ids, **filters):
    return FailoverRequest.objects.filter(service__in=ids, **filters).select_related(
        "service", "service__policy", "from_target", "to_target", "requester"
    )


def _waits_for_you(action, request) -> bool:
    if action.kind not in PENDING_KINDS:
        return False
    if action.kind == "lift_veto":
        return action.reason != "required"  # your own veto, not someone else's
    if action.kind == "rollback":
        return request.rollback_proposed_at is not None  # the rollback criteria are met
    return True


def dashboard(user, service_ids: set[int]) -> dict:
    services = list(
        Service.objects.filter(pk__in=service_ids)
        .select_related("policy")
        .prefetch_related("targets")
    )
    chains = authority_chains(services)
    held = {s.pk: set(authorities_held(chains[s.pk], user.get_username())) for s in services}
    active = list(_requests(service_ids, state__in=ACTIVE_STATES).order_by("-created_at"))
    verdicts = verdicts_for(active)
    gates = answers_for([r for r in active if r.state in OPEN_STATES], verdicts)
    decisions = decision_facts_by_request(r.pk for r in active)

    rows, pending = [], []
    for r in active:
        verdict, chain = verdicts[r.pk], chains[r.service_id]
        vetoes, other_blocks = blocks(verdict)
        rows.append(
            {
                "request": r,
                "verdict": verdict,
                "open": r.state in OPEN_STATES,
                "missing": missing_rows(r, verdict, chain, decisions[r.pk]),
                "vetoes": vetoes,
                "blocks": other_blocks,
            }
        )
        actions = available_actions(
            user=user,
            request=r,
            verdict=verdict,
            decisions=decisions[r.pk],
            authorities=held[r.service_id],
            may_execute=bool(gates.get(r.pk)),
        )
        pending += [{"request": r, "action": a} for a in actions if _waits_for_you(a, r)]

    active_by_service = {r.service_id: r for r in active}
    drills = drill_status(services, chains=chains)
    service_rows = [
        {
            "service": s,
            "chain": chains[s.pk],
            "missing": [AUTHORITIES[a] for a in chains[s.pk].missing],
            "current": next((t for t in s.targets.all() if t.active), None),
            "active_request": active_by_service.get(s.pk),
            "drill": drills[s.pk],
            "idle": [
                (ROLE_NAMES.get(role, role), holders)
                for role, holders in drills[s.pk]["idle_roles"].items()
            ],
        }
        for s in services
    ]
    recent = list(_requests(service_ids).exclude(state__in=ACTIVE_STATES)[:RECENT])
    return {
        "active": rows,
        "services": service_rows,
        "pending": pending,
        "recent": recent,
        "you": [
            {"service": s, "authorities": [AUTHORITIES[a] for a in AUTHORITIES if a in held[s.pk]]}
            for s in services
        ],
    }
