"""Appending to the audit chain. Call inside the transaction of the change being recorded."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.chain import event_hash, normalise
from audit.context import current_actor
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
    """Append one event. `actor` is a user, None for the system, or omitted for the current one.

    The chain head row is locked for the rest of the transaction, so events are appended one
    at a time in commit order and each names its predecessor's hash.
    """
    if actor is _UNSET:
        actor = current_actor()
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    with transaction.atomic():
        head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
        event = AuditEvent(
            seq=head.seq + 1,
            created_at=timezone.now(),
            actor_id=getattr(actor, "pk", None),
            actor=getattr(actor, "username", None) or "system",
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            data=normalise(data or {}),
            prev_hash=head.hash,
        )
        event.hash = event_hash(
            seq=event.seq,
            created_at=event.created_at,
            actor_id=event.actor_id,
            actor=event.actor,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            data=event.data,
            prev_hash=event.prev_hash,
        )
        event.save()
        ChainHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
    return event
