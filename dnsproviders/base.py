"""What every DNS provider adapter offers, in plain data.

Adapters import nothing of Django: they take the provider account's settings and the plan's
change dicts (see failover/plans.py) and return values, change ids and statuses. Each raises
ProviderError, whose `permanent` flag tells the executor whether trying again could help.
"""

from __future__ import annotations

import ipaddress
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Change = Mapping[str, Any]  # one entry of plan["changes"]
PENDING, INSYNC = "PENDING", "INSYNC"


class ProviderError(Exception):
    """A provider call failed. Permanent errors fail the change; others are retried."""

    def __init__(self, message: str, *, permanent: bool = False, code: str = "provider_error"):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code


class DriftError(ProviderError):
    """The live records are not what the plan expected: nothing was (or may be) applied."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True, code="drift")


def record_key(change: Change) -> tuple[str, str, str]:
    return (change["name"].lower(), change["type"], change.get("set_identifier") or "")


def normalise_values(rtype: str, values: Sequence[str]) -> list[str]:
    """Canonical text of record values, so provider readings compare with plan values."""
    out = []
    for value in values:
        value = value.strip()
        if rtype in ("A", "AAAA"):
            value = str(ipaddress.ip_address(value))
        elif rtype in ("CNAME", "NS", "MX", "PTR"):
            value = value.lower()
            if rtype == "CNAME" and not value.endswith("."):
                value += "."
        out.append(value)
    return sorted(set(out))


def check_expected(live: Mapping[tuple, list[str]], changes: Sequence[Change]) -> None:
    """Compare-and-swap precondition: raise DriftError naming every record that moved."""
    drifted = []
    for change in changes:
        key = record_key(change)
        found = live.get(key, [])
        if found != normalise_values(change["type"], change["expected"]):
            drifted.append(
                f"{change['name']} {change['type']} reads {', '.join(found) or 'nothing'}, "
                f"plan expected {', '.join(change['expected']) or 'nothing'}"
            )
    if drifted:
        raise DriftError("record changed since plan, re-plan required: " + "; ".join(drifted))


def matches(live: Mapping[tuple, list[str]], changes: Sequence[Change], side: str) -> bool:
    """Whether every record reads as the plan's `expected` or `new` side."""
    return all(live.get(record_key(c), []) == normalise_values(c["type"], c[side]) for c in changes)


def shown(live: Mapping[tuple, list[str]]) -> dict[str, list[str]]:
    """A reading as evidence: "name type [set id]" -> values."""
    return {
        f"{name} {rtype}" + (f" [{set_id}]" if set_id else ""): values
        for (name, rtype, set_id), values in live.items()
    }


class Provider(ABC):
    """One provider account. `acquire` is called before every API request (rate limit).
    `journal`: calls an adapter made inside another on its own account (a refused batch and
    the read that followed, say), as evidence dicts; the executor records and empties it."""

    def __init__(self, settings: Mapping[str, Any], *, acquire: Callable[[], None] | None = None):
        self.settings = dict(settings)
        self.acquire = acquire or (lambda: None)
        self.journal: list[dict[str, Any]] = []

    def warm(self) -> None:
        """Build what the first call would build (clients), and open what it would open (a
        connection, with one cheap read), so a fresh worker's first failover does not pay for
        it. Never raises for the provider's sake: a worker starts whatever the provider does."""
        return None

    @abstractmethod
    def read(self, zone: str, changes: Sequence[Change]) -> dict[tuple, list[str]]:
        """Live values of the records the changes touch, keyed by record_key; [] if absent."""

    @abstractmethod
    def submit(self, zone: str, changes: Sequence[Change], *, comment: str) -> str:
        """Apply all changes to one zone atomically, only if every record still reads as
        `expected` (else DriftError, nothing applied): the compare-and-swap, which the executor
        relies on without reading first. Returns the provider's change id."""

    def status(self, zone: str, change_id: str) -> str:
        """PENDING or INSYNC. Providers that apply synchronously are INSYNC at once."""
        return INSYNC
