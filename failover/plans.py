"""Building a failover plan from governed records: pure data in, pure data out.

The plan names, for every record that moves, the values expected there now and the values to
set. Its hash binds approvals to exactly this change. Since version 2 it also keeps `inputs`:
the registry facts it was built from (every governed record in scope, with the values the two
targets give it, and the two targets' attributes the rules read), so drift since the plan can
be told without asking a provider, and a re-plan after any such edit is a new plan.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

PLAN_VERSION = 2
# The target attributes the rules and readiness checks read; a change to one is drift.
TARGET_FIELDS = {
    "name": "name",
    "address": "address",
    "oidc_issuer": "OIDC issuer",
    "certificate_trust": "certificate trust",
    "certificate_hostnames": "expected certificate hostnames",
    "secret_store": "secret store",
    "data_residency_region": "data residency region",
}
# The fields of a governed record that shape the change, beside its values.
RECORD_FIELDS = {
    "provider_kind": "provider kind",
    "ttl": "TTL",
    "routing": "routing",
    "failover_role": "failover role",
    "health_check_id": "health check",
    "segment": "segment",
    "weight": "weight",
}


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


def target_facts(target) -> dict[str, Any]:
    """A target as the plan keeps it: the attributes whose change makes the plan stale."""
    return {
        "name": target.name,
        "address": target.address,
        "oidc_issuer": target.oidc_issuer,
        "certificate_trust": target.certificate_trust,
        "certificate_hostnames": sorted(target.certificate_hostnames or []),
        "secret_store": target.secret_store,
        "data_residency_region": target.data_residency_region,
    }


def record_label(record: Mapping[str, Any]) -> str:
    set_id = record.get("set_identifier") or ""
    return f"{record['name']} {record['type']}" + (f" [{set_id}]" if set_id else "")


def _rrset_key(record: Mapping[str, Any]) -> tuple:
    return (
        record["provider_account"],
        record["zone"],
        record["name"].lower(),
        record["type"],
        record.get("set_identifier") or "",
    )


def plan_inputs(
    *,
    from_target: str,
    to_target: str,
    segment: str,
    records: Sequence[Mapping[str, Any]],
    targets: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The registry facts a plan is built from: the governed records in scope (with the
    values the two targets give them) and the two targets (`targets` maps "from"/"to" to
    `target_facts`)."""
    kept = []
    for record in sorted(records, key=_rrset_key):
        if segment and record["segment"] != segment:
            continue
        values = record["values"]
        kept.append(
            {
                "provider_account": record["provider_account"],
                "zone": record["zone"],
                "name": record["name"],
                "type": record["type"],
                "set_identifier": record["set_identifier"],
                **{field: record[field] for field in RECORD_FIELDS},
                "values": {
                    name: sorted(values[name])
                    for name in (from_target, to_target)
                    if name in values
                },
            }
        )
    return {"records": kept, "targets": dict(targets) if targets is not None else None}


def build_plan(
    *,
    service: str,
    from_target: str,
    to_target: str,
    segment: str,
    records: Sequence[Mapping[str, Any]],
    targets: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """`records` are dicts with the record's fields and `values` (target name -> values);
    `targets` maps "from" and "to" to `target_facts` of the two targets."""
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
        "inputs": plan_inputs(
            from_target=from_target,
            to_target=to_target,
            segment=segment,
            records=records,
            targets=targets,
        ),
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
        if plan.get("drill"):
            raise PlanError(
                f"the drill records already point at {plan['to_target']}: an earlier drill "
                "did not put them back; fix them by hand at the provider, then drill again"
            )
        raise PlanError(f"the records already point at {plan['to_target']}")
    return {**plan, "changes": changes}


def drift(
    stored: Mapping[str, Any], inputs: Mapping[str, Any] | None, error: str = ""
) -> list[str]:
    """What changed in the registry since `stored` was planned, in words, given the registry
    facts now (`plan_inputs`, None when no plan can be built, then `error` says why)."""
    differences = [f"the registry no longer gives a plan: {error}"] if error else []
    if inputs is None:
        return differences
    before = stored.get("inputs")
    if before is None:  # a version 1 plan keeps only the records that change
        return differences + _changes_drift(stored, inputs)
    differences += _records_drift(stored, before["records"], inputs["records"])
    if before.get("targets") is not None and inputs.get("targets") is not None:
        differences += _targets_drift(stored, before["targets"], inputs["targets"])
    return differences


def _words(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "(none)"
    return "(none)" if value in ("", None) else str(value)


def _records_drift(stored, before: Sequence[Mapping], now: Sequence[Mapping]) -> list[str]:
    old = {_rrset_key(r): r for r in before}
    new = {_rrset_key(r): r for r in now}
    out = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if b is None:
            out.append(f"{record_label(a)}: no longer a governed record in scope")
            continue
        if a is None:
            out.append(f"{record_label(b)}: now a governed record in scope")
            continue
        label = record_label(a)
        for field, words in RECORD_FIELDS.items():
            if a.get(field) != b.get(field):
                out.append(
                    f"{label}: {words} changed from {_words(a.get(field))} "
                    f"to {_words(b.get(field))}"
                )
        for role in ("from_target", "to_target"):
            target = stored[role]
            was, now_values = a["values"].get(target), b["values"].get(target)
            if was != now_values:
                out.append(
                    f"{label}: the value for target {target} changed from {_words(was)} "
                    f"to {_words(now_values)}"
                )
    return out


def _targets_drift(stored, before: Mapping, now: Mapping) -> list[str]:
    out = []
    for side, role in (("from", "from_target"), ("to", "to_target")):
        a, b = before.get(side) or {}, now.get(side) or {}
        for field, words in TARGET_FIELDS.items():
            if a.get(field) != b.get(field):
                out.append(
                    f"target {stored[role]}: {words} changed from {_words(a.get(field))} "
                    f"to {_words(b.get(field))}"
                )
    return out


def _changes_drift(stored, inputs: Mapping[str, Any]) -> list[str]:
    """Drift of a version 1 plan: its changes against the registry's records now."""
    now = {_rrset_key(r): r for r in inputs["records"]}
    to_target, out = stored["to_target"], []
    for change in stored.get("changes", []):
        record = now.get(_rrset_key(change))
        label = record_label(change)
        if record is None:
            out.append(f"{label}: no longer a governed record in scope")
            continue
        for field, words in RECORD_FIELDS.items():
            if field in change and change[field] != record.get(field):
                out.append(
                    f"{label}: {words} changed from {_words(change[field])} "
                    f"to {_words(record.get(field))}"
                )
        if sorted(change["new"]) != record["values"].get(to_target):
            out.append(
                f"{label}: the value for target {to_target} changed from "
                f"{_words(change['new'])} to {_words(record['values'].get(to_target))}"
            )
    return out


# A host name's label, not `_failover-drill`: BIND's default check-names refuses an address
# record at an underscore name ("bad owner name"), and so would other servers' zone checks.
DRILL_LABEL = "failover-drill"


def drill_name(name: str) -> str:
    """The drill record of a governed record: a name of the same zone, owned by the product,
    that carries no customer traffic (`failover-drill.www.example.com.`)."""
    return f"{DRILL_LABEL}.{name}"


def drill_plan(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The rehearsal of `plan`: the same changes, same provider accounts, zones, types,
    routing and values, on each record's drill record instead. No health check is attached (a
    drill record must not borrow one that decides real traffic). `expected` stays the
    registry's until `with_live_values` reads the drill records themselves. `drill` is part of
    the plan, so of its hash: an approval of a drill never approves the real move."""
    changes = [
        {
            **change,
            "name": drill_name(change["name"]),
            "health_check_id": "",
            "drill_of": change["name"],
        }
        for change in plan["changes"]
    ]
    return {**plan, "drill": True, "changes": changes}


def reversed_plan(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The plan that puts back what `plan` replaced (a rollback)."""
    return {
        **plan,
        "from_target": plan["to_target"],
        "to_target": plan["from_target"],
        "changes": [{**c, "expected": c["new"], "new": c["expected"]} for c in plan["changes"]],
    }


def plan_rows(plan: dict) -> list[dict]:
    """One row per record change, before and after, as people read a plan (pages, step-up)."""
    return [
        {
            "name": c["name"],
            "type": c["type"],
            "zone": c["zone"],
            "provider": c["provider_account"],
            "ttl": c["ttl"],
            "routing": c["routing"],
            "set_identifier": c.get("set_identifier", ""),
            "segment": c.get("segment", ""),
            "before": c["expected"],
            "after": c["new"],
        }
        for c in plan.get("changes", [])
    ]
