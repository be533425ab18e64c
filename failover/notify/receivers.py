"""Turn audit events about failover requests into outbound notifications.

Every state change already writes an audit event in its own transaction, so listening to
those (rather than calling notify from each service) catches every door, and the outbox row
commits or rolls back with the change it reports.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.actions import (
    BREAK_GLASS_USED,
    DECISION_VETO,
    REQUEST_DECLARED,
    REQUEST_STATE_CHANGED,
    ROLLBACK_DEADLINE_PASSED,
    ROLLBACK_PROPOSED,
)
from audit.models import AuditEvent
from failover.notify.services import listening, queue_notifications

logger = logging.getLogger(__name__)

REQUEST_TYPE = "failover.failoverrequest"
BY_ACTION = {
    REQUEST_DECLARED: ("declared", "approval_missing"),
    DECISION_VETO: ("vetoed",),
    ROLLBACK_PROPOSED: ("rollback_due",),
    ROLLBACK_DEADLINE_PASSED: ("rollback_due",),
    BREAK_GLASS_USED: ("break_glass",),
}
BY_NEW_STATE = {
    "approved": "approved",
    "applied": "applied",
    "failed": "failed",
    "rolled_back": "rolled_back",
}


def events_for(action: str, data: dict) -> tuple[str, ...]:
    if action == REQUEST_STATE_CHANGED:
        if data.get("from") == "approved" and data.get("to") == "pending":
            return ("approval_missing",)  # approvals lapsed or the plan changed
        event = BY_NEW_STATE.get(data.get("to"))
        return (event,) if event else ()
    return BY_ACTION.get(action, ())


@receiver(post_save, sender=AuditEvent, dispatch_uid="failover.notify.audit_event")
def notify_on_audit_event(sender, instance: AuditEvent, created: bool, raw=False, **kwargs):
    if not created or raw or instance.object_type != REQUEST_TYPE:
        return
    events = events_for(instance.action, instance.data or {})
    if not events:
        return
    # Who listens is read first, without a savepoint: most requests' services have no
    # endpoint, and a savepoint is two round trips inside the decision, which holds the audit
    # chain's head. It is one indexed read like the decision's own (the lock, the grants); a
    # database error in it fails the transaction as one in those would. A bug of ours in it
    # is logged, as below.
    try:
        endpoints = listening(int(instance.object_id))
    except DatabaseError:
        raise
    except Exception:
        logger.exception("could not read who listens to audit event #%s", instance.seq)
        return
    if not endpoints:
        return
    # A notification must never undo the failover decision it reports: a failure here rolls
    # back to this savepoint only, and is logged.
    try:
        with transaction.atomic():
            queue_notifications(instance, events, endpoints)
    except Exception:
        logger.exception(
            "could not queue notifications for audit event #%s (%s)", instance.seq, instance.action
        )
