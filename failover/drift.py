"""Registry drift: what changed in the registry since a request's plan was made.

The stored plan keeps the registry facts it was built from (failover/plans.py `inputs`); the
same facts read now are compared with them. No provider is asked (the live records are the
compare-and-swap's business at execution), so every page view and the gate can afford it.

`registry_drift(request)` is the one question the gate asks ("may this change go out now":
a non-empty answer is the block `registry_changed`); the request page, the API and the CLI
show the same list.
"""

from __future__ import annotations

from collections.abc import Iterable

from failover.models import FailoverRequest
from failover.planning import registry_records
from failover.plans import PlanError, build_plan, drift, plan_inputs, target_facts
from failover.states import OPEN_STATES, State

# A plan can still go stale while the worker is about to submit it; after that the stored
# plan is history (a rollback puts back what the plan replaced, whatever the registry says).
CHECKED_STATES = OPEN_STATES | {State.EXECUTING}


def registry_drift(request: FailoverRequest) -> list[str]:
    """The differences between the request's plan and the registry now, in words; [] when
    none or when the request is past execution."""
    return drift_by_request([request])[request.pk]


def drift_by_request(requests: Iterable[FailoverRequest]) -> dict[int, list[str]]:
    """`registry_drift` of many requests in a fixed number of queries (lists stay flat).
    The requests should come with `service`, `from_target` and `to_target` selected."""
    requests = list(requests)
    checked = [r for r in requests if r.state in CHECKED_STATES]
    records = registry_records({r.service_id for r in checked}) if checked else {}
    out: dict[int, list[str]] = {r.pk: [] for r in requests}
    for request in checked:
        out[request.pk] = _drift(request, records[request.service_id])
    return out


def _drift(request: FailoverRequest, records: list[dict]) -> list[str]:
    stored = request.plan or {}
    if not stored.get("changes"):
        return []
    facts = {
        "from_target": request.from_target.name,
        "to_target": request.to_target.name,
        "segment": request.segment,
        "records": records,
        "targets": {
            "from": target_facts(request.from_target),
            "to": target_facts(request.to_target),
        },
    }
    try:
        rebuilt = build_plan(service=stored.get("service", ""), **facts)
    except PlanError as exc:
        return drift(stored, plan_inputs(**facts), str(exc))
    return drift(stored, rebuilt["inputs"])
