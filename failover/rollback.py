"""Rollback criteria: structured fields with defaults, set when a failover is declared."""

from __future__ import annotations

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
_LIMITS = {
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
    for key, (low, high) in _LIMITS.items():
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
