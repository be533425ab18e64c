"""Appending to the audit chain. Call inside the transaction of the change being recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connection, router, transaction
from django.db.models.signals import post_save
from django.utils import timezone

from audit.actions import ACTIONS
from audit.chain import normalise, stored_event_hash
from audit.checkpoints import after_append
from audit.context import current_actor, current_annotations
from audit.models import AuditEvent, ChainHead

_UNSET: Any = object()


@dataclass
class Event:
    """One event to append, as `record_event` takes it."""

    action: str
    obj: Any = None
    object_type: str = ""
    object_id: str = ""
    data: dict[str, Any] | None = None
    actor: Any = field(default=_UNSET)


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
    system, or omitted for the current one."""
    return record_events([Event(action, obj, object_type, object_id, data, actor)])[0]


def record_events(events: list[Event]) -> list[AuditEvent]:
    """Append several events in order with one lock of the chain head and one INSERT: what
    one step of work did (a provider call and its outcome, say) costs the chain two round
    trips, not two per event.

    The chain head row is locked for the rest of the transaction, so events are appended in
    commit order and each names its predecessor's hash. Listeners of AuditEvent's post_save
    (notifications) hear of each event as if it had been saved alone."""
    for event in events:  # a programming error: the chain would keep it for ever
        if event.action not in ACTIONS:
            raise ValueError(f"unknown audit action {event.action!r}: add it to audit/actions.py")
    if not events:
        return []
    annotations = current_annotations()
    # No savepoint of its own: a failed append fails the change it records.
    with transaction.atomic(savepoint=False):
        seq, prev_hash = lock_head()
        now = timezone.now()
        rows = []
        for spec in events:
            actor = current_actor() if spec.actor is _UNSET else spec.actor
            object_type, object_id = spec.object_type, spec.object_id
            if spec.obj is not None:
                object_type = object_type or spec.obj._meta.label_lower
                object_id = object_id or str(spec.obj.pk)
            seq += 1
            row = AuditEvent(
                seq=seq,
                created_at=now,
                actor_id=getattr(actor, "pk", None),
                actor=getattr(actor, "username", None) or "system",
                action=spec.action,
                object_type=object_type,
                object_id=str(object_id),
                data=normalise({**(spec.data or {}), **annotations}),
                prev_hash=prev_hash,
            )
            row.hash = prev_hash = stored_event_hash(row)
            rows.append(row)
        if len(rows) == 1:
            rows[0].save(force_insert=True)  # save() sends post_save itself
        else:
            AuditEvent.objects.bulk_create(rows)
            using = router.db_for_write(AuditEvent)
            for row in rows:
                post_save.send(AuditEvent, instance=row, created=True, raw=False, using=using)
        if connection.vendor != "postgresql":  # there a trigger moves the head (0005)
            ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev_hash)
        for row in rows:  # every AUDIT_CHECKPOINT_EVERY_EVENTS: a checkpoint after commit
            after_append(row.seq)
    return rows


def lock_head() -> tuple[int, str]:
    """The chain head (seq, hash), locked until the transaction ends. On PostgreSQL through
    the owner's function: the app's role may read the head but not lock or move it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq, hash FROM audit_head_for_append()")
            return cursor.fetchone()
    head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
    return head.seq, head.hash
