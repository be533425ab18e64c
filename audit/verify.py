"""Walks the chain in order and reports the first event whose hash or link does not hold."""

from __future__ import annotations

from dataclasses import dataclass

from audit.chain import COLUMNS, GENESIS, event_hash
from audit.models import AuditEvent, ChainHead


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    verified: int
    first_broken_seq: int | None = None
    reason: str = ""


def verify_chain(*, chunk_size: int = 2000) -> VerifyResult:
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    rows = AuditEvent.objects.order_by("seq").values_list(*COLUMNS).iterator(chunk_size=chunk_size)
    for seq, created_at, actor_id, actor, action, obj_type, obj_id, data, prev, stored in rows:
        if seq != expected_seq:
            return VerifyResult(False, count, expected_seq, f"event #{expected_seq} is missing")
        if prev != expected_prev:
            return VerifyResult(False, count, seq, "previous-hash link does not match")
        computed = event_hash(
            seq=seq,
            created_at=created_at,
            actor_id=actor_id,
            actor=actor,
            action=action,
            object_type=obj_type,
            object_id=obj_id,
            data=data,
            prev_hash=prev,
        )
        if computed != stored:
            return VerifyResult(False, count, seq, "content does not match its hash")
        expected_prev = stored
        expected_seq += 1
        count += 1
    head = ChainHead.objects.filter(pk=1).first()
    if head is not None and (head.seq != count or head.hash != expected_prev):
        return VerifyResult(False, count, count + 1, "events after the last one were removed")
    return VerifyResult(True, count)
