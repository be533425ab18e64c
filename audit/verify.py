"""Walks the chain in order and reports the first event whose hash or link does not hold.

A long chain can be verified in parts by several processes (the `verify_audit` command does
on PostgreSQL): each part checks its own events' hashes, sequence and links, and the parts are
stitched by checking that each part's first event names the previous part's last hash. The
answer is the same as walking the whole chain in one process.

`progress`, when given, is told how many events have been verified so far: every
`PROGRESS_EVERY` events (about half a second) in one process, once per finished part in
several. The background job (audit/jobs.py) shows it to whoever polls.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from django.db import connection, connections
from django.db.models import Max

from audit.chain import COLUMNS, GENESIS, event_hash
from audit.models import AuditEvent, ChainHead

PARALLEL_MIN_EVENTS = 50_000  # below this, starting processes costs more than it saves
PROGRESS_EVERY = 50_000

Progress = Callable[[int], None]


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    verified: int
    first_broken_seq: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class _Part:
    """One seq range, checked on its own: its first link is checked when stitching."""

    first_prev: str | None  # prev_hash of the range's first event (None: no events)
    last_hash: str
    verified: int
    broken_seq: int | None = None
    reason: str = ""


def _rows(low: int, high: int | None, chunk_size: int):
    """The events from `low` to `high` in order, as COLUMNS tuples. On PostgreSQL straight
    from a server-side cursor: the ORM's per-row machinery was a fifth of verifying."""
    if connection.vendor != "postgresql":
        rows = AuditEvent.objects.filter(seq__gte=low)
        if high is not None:
            rows = rows.filter(seq__lte=high)
        yield from rows.order_by("seq").values_list(*COLUMNS).iterator(chunk_size=chunk_size)
        return
    columns = ", ".join(AuditEvent._meta.get_field(name).column for name in COLUMNS)
    sql = f"SELECT {columns} FROM {AuditEvent._meta.db_table} WHERE seq >= %s"
    params = [low]
    if high is not None:
        sql, params = sql + " AND seq <= %s", [low, high]
    data_at = COLUMNS.index("data")
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql + " ORDER BY seq", params)
        while chunk := cursor.fetchmany(chunk_size):
            for row in chunk:
                if isinstance(row[data_at], str):  # Django has psycopg hand jsonb over as text
                    row = (*row[:data_at], json.loads(row[data_at]), *row[data_at + 1 :])
                yield row


def _verify_range(
    low: int,
    high: int | None,
    *,
    chunk_size: int,
    progress: Progress | None = None,
    every: int = PROGRESS_EVERY,
) -> _Part:
    expected_seq = low
    expected_prev = None  # the first event's link is the caller's to check
    first_prev = None
    count = 0
    # One comparison per event, not a call: the loop's speed is what is measured.
    report_at = every if progress is not None else -1
    rows = _rows(low, high, chunk_size)
    for seq, created_at, actor_id, actor, action, obj_type, obj_id, data, prev, stored in rows:
        if seq != expected_seq:
            return _Part(first_prev, expected_prev or "", count, expected_seq, "missing")
        if expected_prev is None:
            first_prev = prev
        elif prev != expected_prev:
            return _Part(first_prev, expected_prev, count, seq, "link")
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
            return _Part(first_prev, expected_prev or "", count, seq, "content")
        expected_prev = stored
        expected_seq += 1
        count += 1
        if count == report_at:
            progress(count)
            report_at += every
    if high is not None and expected_seq <= high:  # the range ends early: events are missing
        return _Part(first_prev, expected_prev or "", count, expected_seq, "missing")
    return _Part(first_prev, expected_prev or "", count)


def verify_range(low: int, high: int, *, chunk_size: int = 5000) -> _Part:
    """Events `low` to `high` checked on their own: hashes, sequence, and links from the second
    on (the first link is the caller's to check against `first_prev`)."""
    return _verify_range(low, high, chunk_size=chunk_size)


REASONS = {
    "link": "previous-hash link does not match",
    "content": "content does not match its hash",
}


def _stitch(parts: list[tuple[int, _Part]]) -> VerifyResult:
    """Combine parts (each with the seq it starts at) in order into the whole chain's answer."""
    expected_prev = GENESIS
    total = 0
    for low, part in parts:
        if part.first_prev is not None and part.first_prev != expected_prev:
            return VerifyResult(False, total, low, REASONS["link"])
        if part.broken_seq is not None:
            reason = REASONS.get(part.reason, f"event #{part.broken_seq} is missing")
            return VerifyResult(False, total + part.verified, part.broken_seq, reason)
        if part.verified:
            expected_prev = part.last_hash
        total += part.verified
    head = ChainHead.objects.filter(pk=1).first()
    if head is not None and (head.seq != total or head.hash != expected_prev):
        return VerifyResult(False, total, total + 1, "events after the last one were removed")
    return VerifyResult(True, total)


def _verify_part(low: int, high: int, chunk_size: int) -> _Part:
    try:
        return _verify_range(low, high, chunk_size=chunk_size)
    finally:
        connection.close()


def verify_chain(
    *,
    chunk_size: int = 5000,
    workers: int = 1,
    min_parallel: int = PARALLEL_MIN_EVENTS,
    progress: Progress | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> VerifyResult:
    """Verify the whole chain. With `workers` > 1 on PostgreSQL, outside a transaction, a long
    chain is checked in that many processes (forked: call it from a command, not a web or
    Celery worker process). `progress(n)`: n events verified so far, every `progress_every`
    events in one process, once per finished part in several."""
    parallel = workers > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block
    last = (AuditEvent.objects.aggregate(last=Max("seq"))["last"] or 0) if parallel else 0
    if not parallel or last < min_parallel:
        whole = _verify_range(
            1, None, chunk_size=chunk_size, progress=progress, every=progress_every
        )
        return _stitch([(1, whole)])
    step = -(-last // workers)
    bounds = [(low, min(low + step - 1, last)) for low in range(1, last + 1, step)]
    bounds[-1] = (bounds[-1][0], last)
    connections.close_all()  # the children must not share this process's connection
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_verify_part, low, high, chunk_size) for low, high in bounds]
        done = 0
        for finished in as_completed(futures):  # in the order the parts finish
            done += finished.result().verified
            if progress is not None:
                progress(done)
        parts = [future.result() for future in futures]
    return _stitch([(low, part) for (low, _), part in zip(bounds, parts, strict=True)])
