"""Appending to the audit chain. Call inside the transaction of the change being recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
    (notifications) hear of each event as if it had been saved alone.

    Inside `appended_at_end()` the rows are returned unsaved and appended when it ends."""
    for event in events:  # a programming error: the chain would keep it for ever
        if event.action not in ACTIONS:
            raise ValueError(f"unknown audit action {event.action!r}: add it to audit/actions.py")
    rows = [_row(spec, current_annotations()) for spec in events]
    held = _held.get()
    if held is None:
        _append(rows)
    else:
        held.add(rows)
    return rows


class _Held:
    """Rows recorded inside `appended_at_end()`, each with the mark of the savepoint it was
    recorded in, if the block opened one: Django drops a savepoint's on-commit callbacks when
    it rolls back, so a mark still waiting says its rows still stand."""

    def __init__(self, connection: Any):
        self.connection, self.depth = connection, len(connection.savepoint_ids)
        self.rows: list[tuple[AuditEvent, Callable[[], None] | None]] = []

    def add(self, rows: list[AuditEvent]) -> None:
        mark = None
        if len(self.connection.savepoint_ids) > self.depth:

            def mark() -> None:  # stands for the rows in the savepoint's callbacks
                pass

            transaction.on_commit(mark, using=self.connection.alias)
        self.rows += [(row, mark) for row in rows]

    def standing(self) -> list[AuditEvent]:
        waiting = {id(func) for _, func, _ in self.connection.run_on_commit}
        return [row for row, mark in self.rows if mark is None or id(mark) in waiting]


_held: ContextVar[_Held | None] = ContextVar("audit_held", default=None)


class Appended:
    """What an `appended_at_end()` block appended when it ended: its rows, with their seq.
    `rows` is None for a nested block, whose events the outermost one appends later."""

    def __init__(self) -> None:
        self.rows: list[AuditEvent] | None = None


@contextmanager
def appended_at_end() -> Iterator[Appended]:
    """Events recorded inside are appended when the block ends, in the order recorded, with
    one lock of the chain head and one INSERT; nothing is appended if it raises (its
    transaction rolls back). The head stays unlocked while the block works, so a batch of work
    holds it for its last round trips only, not its whole length.

    Only inside a transaction, for a block that does not read back the events it records
    (they have no seq before the end). Nested, the outermost block appends. Events recorded in
    a savepoint the block opened and rolled back are not appended, as without the block."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("appended_at_end() needs a transaction: the events would be lost")
    appended = Appended()
    if _held.get() is not None:
        yield appended
        return
    held = _Held(connection)
    token = _held.set(held)
    try:
        yield appended
    finally:
        _held.reset(token)
    rows = held.standing()
    _append(rows)
    appended.rows = rows


def _row(spec: Event, annotations: dict[str, Any]) -> AuditEvent:
    """The event as a row, without its place in the chain (seq, time, hashes)."""
    actor = current_actor() if spec.actor is _UNSET else spec.actor
    object_type, object_id = spec.object_type, spec.object_id
    if spec.obj is not None:
        object_type = object_type or spec.obj._meta.label_lower
        object_id = object_id or str(spec.obj.pk)
    return AuditEvent(
        actor_id=getattr(actor, "pk", None),
        actor=getattr(actor, "username", None) or "system",
        action=spec.action,
        object_type=object_type,
        object_id=str(object_id),
        data=normalise({**(spec.data or {}), **annotations}),
    )


def _append(rows: list[AuditEvent]) -> None:
    if not rows:
        return
    # No savepoint of its own: a failed append fails the change it records.
    with transaction.atomic(savepoint=False):
        seq, prev_hash = lock_head()
        now = timezone.now()
        for row in rows:
            seq += 1
            row.seq, row.created_at, row.prev_hash = seq, now, prev_hash
            row.hash = prev_hash = stored_event_hash(row)
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


def lock_head() -> tuple[int, str]:
    """The chain head (seq, hash), locked until the transaction ends. On PostgreSQL through
    the owner's function: the app's role may read the head but not lock or move it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq, hash FROM audit_head_for_append()")
            return cursor.fetchone()
    head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
    return head.seq, head.hash
