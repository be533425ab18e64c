"""The failover request state machine: which transitions exist. Services decide when."""

from __future__ import annotations

from django.db import models


class State(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    EXECUTING = "executing", "Executing"
    APPLIED = "applied", "Applied"
    ROLLING_BACK = "rolling_back", "Rolling back"
    ROLLED_BACK = "rolled_back", "Rolled back"
    CLOSED = "closed", "Closed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    FAILED = "failed", "Failed"


TRANSITIONS: dict[str, frozenset[str]] = {
    State.PENDING: frozenset(
        {State.APPROVED, State.EXECUTING, State.REJECTED, State.CANCELLED, State.EXPIRED}
    ),
    # approved -> pending when approvals lapse or the plan changes before execution.
    State.APPROVED: frozenset(
        {State.PENDING, State.EXECUTING, State.REJECTED, State.CANCELLED, State.EXPIRED}
    ),
    State.EXECUTING: frozenset({State.APPLIED, State.FAILED}),
    State.APPLIED: frozenset({State.ROLLING_BACK, State.CLOSED}),
    State.ROLLING_BACK: frozenset({State.ROLLED_BACK, State.FAILED}),
    State.ROLLED_BACK: frozenset({State.CLOSED}),
}

OPEN_STATES = frozenset({State.PENDING, State.APPROVED})
# A service has at most one request in these: an applied failover is rolled back or closed
# before another one is declared, so two changes never compete for the same records.
ACTIVE_STATES = frozenset(
    {State.PENDING, State.APPROVED, State.EXECUTING, State.APPLIED, State.ROLLING_BACK}
)


def can_transition(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())
