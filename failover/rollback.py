"""Rollback criteria: structured fields with defaults, set when a failover is declared."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from failover.errors import InvalidInput

DEFAULTS: dict[str, Any] = {
    # Stay on the failover target at least this long before moving back.
    "min_minutes_on_target": 30,
    # The primary's health signal must have been resolved this long.
    "primary_healthy_minutes": 15,
    # Past this, the rollback authority is paged to decide.
    "decide_within_minutes": 240,
    "notes": "",
}
LIMITS = {
    "min_minutes_on_target": (0, 7 * 24 * 60),
    "primary_healthy_minutes": (0, 24 * 60),
    "decide_within_minutes": (5, 14 * 24 * 60),
}


def normalise_criteria(raw: Any) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput(
            "rollback criteria must be an object", {"rollback_criteria": "not an object"}
        )
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise InvalidInput(
            "unknown rollback criteria: " + ", ".join(unknown),
            {
                "rollback_criteria": (
                    f"unknown fields {', '.join(unknown)}; known: {', '.join(DEFAULTS)}"
                )
            },
        )
    criteria = dict(DEFAULTS)
    errors = {}
    for key, (low, high) in LIMITS.items():
        if key not in raw:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[f"rollback_criteria.{key}"] = f"must be a whole number from {low} to {high}"
        else:
            criteria[key] = value
    notes = raw.get("notes", "")
    if not isinstance(notes, str) or len(notes) > 2000:
        errors["rollback_criteria.notes"] = "must be text of at most 2000 characters"
    else:
        criteria["notes"] = notes.strip()
    if errors:
        raise InvalidInput("invalid rollback criteria", errors)
    return criteria


def evaluate_criteria(
    criteria: dict[str, Any],
    *,
    applied_at: datetime,
    now: datetime,
    firing: list[str],
    healthy_since: datetime,
) -> dict[str, Any]:
    """Whether it is time to propose rolling back. `firing` names the service's signals still
    firing; `healthy_since` is when the last of them resolved (or the failover, if none did)."""
    on_target = (now - applied_at).total_seconds() / 60
    healthy = 0.0 if firing else max(0.0, (now - healthy_since).total_seconds() / 60)
    reasons = []
    if on_target < criteria["min_minutes_on_target"]:
        reasons.append(
            f"on the failover target {on_target:.0f} of {criteria['min_minutes_on_target']} min"
        )
    if firing:
        reasons.append("still firing: " + ", ".join(firing))
    elif healthy < criteria["primary_healthy_minutes"]:
        reasons.append(f"healthy for {healthy:.0f} of {criteria['primary_healthy_minutes']} min")
    return {
        "met": not reasons,
        "reasons": reasons,
        "minutes_on_target": round(on_target, 1),
        "healthy_minutes": round(healthy, 1),
        "deadline_passed": on_target >= criteria["decide_within_minutes"],
    }
