"""Building a failover plan from governed records: pure data in, pure data out.

The plan names, for every record that moves, the values expected there now and the values to
set. Its hash binds approvals to exactly this change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

PLAN_VERSION = 1


class PlanError(ValueError):
    """The governed records cannot produce a plan for this move."""


def plan_hash(plan: Mapping[str, Any]) -> str:
    canonical = json.dumps(plan, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record_facts(record, values: Mapping[str, list[str]]) -> dict[str, Any]:
    """A governed record as `build_plan` reads it; `values` maps a target name to its values."""
    return {
        "id": record.pk,
        "provider_account": record.provider_account.name,
        "provider_kind": record.provider_account.kind,
        "zone": record.zone,
        "name": record.name,
        "type": record.rtype,
        "ttl": record.ttl,
        "routing": record.routing,
        "set_identifier": record.set_identifier,
        "failover_role": record.failover_role,
        "health_check_id": record.health_check_id,
        "segment": record.segment,
        "weight": record.weight,
        "values": values,
    }


def build_plan(
    *,
    service: str,
    from_target: str,
    to_target: str,
    segment: str,
    records: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """`records` are dicts with the record's fields and `values` (target name -> values)."""
    if from_target == to_target:
        raise PlanError(f"traffic already goes to {to_target}")
    changes = []
    for record in sorted(records, key=lambda r: (r["name"], r["type"], r["set_identifier"])):
        if segment and record["segment"] != segment:
            continue
        label = f"{record['name']} {record['type']}"
        values = record["values"]
        if to_target not in values:
            raise PlanError(f"governed record {label} has no value for target {to_target}")
        if from_target not in values:
            raise PlanError(f"governed record {label} has no value for target {from_target}")
        expected, new = sorted(values[from_target]), sorted(values[to_target])
        if expected == new:
            continue
        changes.append(
            {
                "record_id": record["id"],
                "provider_account": record["provider_account"],
                "provider_kind": record["provider_kind"],
                "zone": record["zone"],
                "name": record["name"],
                "type": record["type"],
                "ttl": record["ttl"],
                "routing": record["routing"],
                "set_identifier": record["set_identifier"],
                "failover_role": record["failover_role"],
                "health_check_id": record["health_check_id"],
                "segment": record["segment"],
                "weight": record["weight"],
                "expected": expected,
                "new": new,
            }
        )
    if not changes:
        scope = f" for segment {segment}" if segment else ""
        raise PlanError(f"no governed record{scope} changes when moving to {to_target}")
    return {
        "version": PLAN_VERSION,
        "service": service,
        "from_target": from_target,
        "to_target": to_target,
        "segment": segment,
        "changes": changes,
    }


def by_zone(changes: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[dict]]:
    """Group plan changes per (provider account, zone): each group is one atomic provider change."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for change in changes:
        groups.setdefault((change["provider_account"], change["zone"]), []).append(dict(change))
    return groups


def with_live_values(plan: Mapping[str, Any], live: Mapping[tuple, list[str]]) -> dict[str, Any]:
    """The plan with `expected` set to what the provider reads now, dropping records that
    already hold their new values. `live` is keyed by (account, zone, name, type, set id)."""
    changes = []
    for change in plan["changes"]:
        key = (
            change["provider_account"],
            change["zone"],
            change["name"].lower(),
            change["type"],
            change["set_identifier"],
        )
        current = sorted(live.get(key, []))
        if current == sorted(change["new"]):
            continue
        changes.append({**change, "expected": current})
    if not changes:
        raise PlanError(f"the records already point at {plan['to_target']}")
    return {**plan, "changes": changes}


def reversed_plan(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The plan that puts back what `plan` replaced (a rollback)."""
    return {
        **plan,
        "from_target": plan["to_target"],
        "to_target": plan["from_target"],
        "changes": [{**c, "expected": c["new"], "new": c["expected"]} for c in plan["changes"]],
    }
