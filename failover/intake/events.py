"""What a paging tool's payload means to us, as plain data: the per-tool parsers turn native
payloads into a list of `Event`s; the services layer applies them. No models here."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FIRE = "fire"  # record a firing signal
RESOLVE = "resolve"  # resolve the matching firing signal
NOTE = "note"  # understood, recorded in the delivery's outcome, changes nothing


class BadPayload(ValueError):
    """The payload is JSON but not the shape the tool sends; the message says what is wrong."""


@dataclass(frozen=True)
class Event:
    action: str
    external_id: str  # the tool's id of the alert: signals are matched and deduplicated on it
    service: str = ""  # our service slug, after the integration's mapping rules
    metric: str = ""
    value: float | None = None
    summary: str = ""
    note: str = ""  # why a NOTE changes nothing, or what is wrong with a FIRE/RESOLVE
    incident_ref: str = ""


def text(value: Any, limit: int = 500) -> str:
    """A string from a scalar ("" for anything else). NUL and lone surrogates (JSON allows
    both as escapes) are dropped: PostgreSQL text refuses them."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value) if isinstance(value, int | float | bool) else ""
    value = value.encode("utf-8", "replace").decode("utf-8")
    return value.replace("\x00", "").strip()[:limit]


def number(value: Any) -> float | None:
    """A finite float from a number or numeric string ("12.5", "12.5%"), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip().rstrip("%").strip()
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def mapping(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def service_slug(rules: Mapping, external: str) -> str:
    """The integration's `services` rule maps a tool's name for a service to our slug; a name
    with no mapping is taken to be the slug itself."""
    mapped = mapping(rules.get("services")).get(external, external)
    return text(mapped, 80)
