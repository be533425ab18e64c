"""Appending to the audit chain. Call inside the transaction of the change being recorded."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.actions import ACTIONS
from audit.chain import normalise, stored_event_hash
from audit.checkpoints import after_append
from audit.context import current_actor, current_annotations
from audit.models import AuditEvent, ChainHead

_UNSET = object()


def record_event(
    *,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    data: dict[str, Any] | None = None,
    actor: Any = _UNSET,
) -> AuditEvent:
    """Append one event. `action` is one of audit/actions.py; `actor` is a user, None for the
    system, or omitted for the current one.

    The chain head row is locked for the rest of the transaction, so events are appended one
    at a time in commit order and each names its predecessor's hash.
    """
    if action not in ACTIONS:  # a programming error: the chain would keep it for ever
        raise ValueError(f"unknown audit action {action!r}: add it to audit/actions.py")
    if actor is _UNSET:
        actor = current_actor()
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    with transaction.atomic():
        seq, prev_hash = lock_head()
        event = AuditEvent(
            seq=seq + 1,
            created_at=timezone.now(),
            actor_id=getattr(actor, "pk", None),
            actor=getattr(actor, "username", None) or "system",
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            data=normalise({**(data or {}), **current_annotations()}),
            prev_hash=prev_hash,
        )
        event.hash = stored_event_hash(event)
        event.save()
        if connection.vendor != "postgresql":  # there a trigger moves the head (0005)
            ChainHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
        after_append(event.seq)  # every AUDIT_CHECKPOINT_EVERY_EVENTS: a checkpoint after commit
    return event


def lock_head() -> tuple[int, str]:
    """The chain head (seq, hash), locked until the transaction ends. On PostgreSQL through
    the owner's function: the app's role may read the head but not lock or move it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq, hash FROM audit_head_for_append()")
            return cursor.fetchone()
    head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
    return head.seq, head.hash
