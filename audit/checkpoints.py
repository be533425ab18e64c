"""Signed checkpoints of the audit chain, kept outside the database (DESIGN invariant 18).

A checkpoint says "the chain reached event #seq, whose hash is H", signed with the worker's
Ed25519 key (audit/signing.py) and written to every store (audit/checkpoint_store.py). Since
each event's hash covers every event before it, someone holding the whole database but not the
key cannot rewrite or cut history up to the latest checkpoint without the verifiers
(audit/evidence.py, audit/offline_verify.py) noticing. Events after it are not yet covered:
that window is AUDIT_CHECKPOINT_INTERVAL_SECONDS or AUDIT_CHECKPOINT_EVERY_EVENTS at most.

The worker takes one every AUDIT_CHECKPOINT_INTERVAL_SECONDS (audit.tasks.take_checkpoint, on
the beat) and after every AUDIT_CHECKPOINT_EVERY_EVENTS appended events (after_append). It
first verifies the events since the previous checkpoint, linking from that checkpoint's hash:
it never signs a chain that does not verify. The previous checkpoint is the newest one in the
stores, not what the database says: the Checkpoint table is only an index of what was written
(a row is added once every store has the checkpoint), and its rows are checked like files.
"""

from __future__ import annotations

import fcntl
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.chain import GENESIS, canonical, timestamp
from audit.checkpoint_store import StoreError, configured_stores
from audit.models import AuditEvent, ChainHead, Checkpoint
from audit.offline_verify import (
    checkpoint_file,
    checkpoint_name,
    read_checkpoint,
    signature_problem,
)
from audit.signing import NO_KEY, SigningKey, public_keys, signing_key
from audit.verify import REASONS, verify_range
from failover.dispatch import enqueue, send_now

logger = logging.getLogger(__name__)

TASK = "audit.tasks.take_checkpoint"
# One run verifies at most this many events, then signs where it got to and asks for another
# run: the first checkpoint of a long chain never outlasts a task's time limit.
MAX_EVENTS_PER_RUN = 250_000
# pg_try_advisory_lock's key: one checkpoint at a time across every worker.
LOCK_KEY = int.from_bytes(b"auditckp", "big")


@dataclass(frozen=True)
class Outcome:
    status: str  # taken | unchanged | busy | no-key | no-store | failed
    seq: int | None = None
    message: str = ""
    stored: tuple[str, ...] = ()
    more: bool = False  # events beyond this checkpoint are waiting for the next run

    @property
    def ok(self) -> bool:
        return self.status in ("taken", "unchanged", "busy")

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "seq": self.seq,
            "message": self.message,
            "stored": list(self.stored),
            "more": self.more,
        }


class Refused(Exception):
    """The chain or the stores disagree with what a checkpoint needs: nothing is signed."""


_warned_no_key = False


def take_checkpoint(*, max_events: int = MAX_EVENTS_PER_RUN) -> Outcome:
    """Sign the chain head (or the furthest verified event, for a long backlog) and write it to
    every store. Never raises for a store that is down or a chain that does not verify: logs an
    error and returns a failed Outcome (the next beat tries again)."""
    global _warned_no_key
    key = signing_key()
    if key is None:
        if not _warned_no_key:
            logger.warning("audit: %s", NO_KEY)
            _warned_no_key = True
        return Outcome("no-key", message=NO_KEY)
    stores = configured_stores()
    if not stores:
        message = "no checkpoint store configured (AUDIT_CHECKPOINT_DIR, AUDIT_CHECKPOINT_S3_*)"
        logger.error("audit: %s", message)
        return Outcome("no-store", message=message)
    with _exclusive() as mine:
        if not mine:
            return Outcome("busy", message="another checkpoint is being taken")
        try:
            return _take(key, stores, max_events)
        except (Refused, StoreError, ImproperlyConfigured) as problem:
            logger.error("audit checkpoint not taken: %s", problem)
            return Outcome("failed", message=str(problem))


@contextmanager
def _exclusive():
    """True when this process may take the checkpoint, False when another one is at it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            mine = cursor.fetchone()[0]
        try:
            yield mine
        finally:
            if mine:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
        return
    # SQLite: web, worker and beat share one host and one file.
    with open(Path(settings.VAR_DIR) / "audit-checkpoint.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _take(key: SigningKey, stores, max_events: int) -> Outcome:
    head_seq, head_hash = ChainHead.objects.filter(pk=1).values_list("seq", "hash").first() or (
        0,
        GENESIS,
    )
    keys = public_keys()
    latest, copies = _latest(stores, keys)
    start_seq, start_hash = (latest.seq, latest.hash) if latest else (0, GENESIS)
    if start_seq > head_seq:
        raise Refused(
            f"cut: the chain head is at #{head_seq} but checkpoint #{start_seq} (signed "
            f"{latest.signed_at}) says the chain reached #{start_seq}: run verify_audit"
        )
    completed = _complete(latest, copies, stores) if latest else []
    target = min(head_seq, start_seq + max_events)
    last_hash = _verify_since(start_seq, start_hash, target)
    if target == head_seq and last_hash != head_hash:
        raise Refused(f"the chain head does not name event #{head_seq}'s hash: run verify_audit")
    if target == start_seq:
        message = f"copied to {', '.join(completed)}" if completed else ""
        return Outcome("unchanged", start_seq, message, tuple(completed))

    previous = {"seq": latest.seq, "hash": latest.hash} if latest else None
    signed_at = timezone.now()
    body = canonical(
        {
            "seq": target,
            "hash": last_hash,
            "signed_at": timestamp(signed_at),
            "key_id": key.key_id,
            "previous": previous,
        }
    )
    signature = key.sign(body)
    data = checkpoint_file(body.decode(), signature)
    name = checkpoint_name(target)
    stored, failures = [], []
    for store in stores:
        try:
            store.put(name, data)
            stored.append(store.name)
        except StoreError as problem:
            failures.append(str(problem))
    if failures:
        message = "; ".join(failures)
        logger.error("audit checkpoint #%s not written everywhere: %s", target, message)
        return Outcome("failed", target, message, tuple(stored))
    _index(read_checkpoint(name, data), stored)
    return Outcome("taken", target, "", tuple(stored), more=target < head_seq)


def _latest(stores, keys):
    """The newest checkpoint in any store (signature checked) and each store's copy of it
    (None: that store lacks it). The database's newest row says where to start looking; a
    row is trusted only with a valid signature, since anyone with the database can add one."""
    row = Checkpoint.objects.order_by("-seq").first()
    hint = None
    if row is not None:
        problem = _row_problem(row, keys)
        if problem:
            logger.error("audit: %s: ignored, the stores are read instead", problem)
        else:
            hint = checkpoint_name(row.seq)
    names, readable = set(), []
    for store in stores:
        try:
            names.update(store.names_after(hint))
            readable.append(store)
        except StoreError as problem:
            logger.error("audit checkpoint store unavailable: %s", problem)
    if not readable:
        raise Refused("no checkpoint store can be read")
    if hint:
        names.add(hint)
    if not names:
        return None, {}
    name = max(names)
    copies = {store.name: store.get(name) for store in readable}
    found = {data for data in copies.values() if data is not None}
    if len(found) > 1:
        raise Refused(f"the stores hold different checkpoints named {name}")
    if found:
        data = found.pop()
    elif name == hint:  # in no store (a lost directory): the database's signed row restores it
        data = checkpoint_file(row.body, row.signature)
    else:
        raise Refused(f"checkpoint {name} was listed but cannot be read")
    try:
        checkpoint = read_checkpoint(name, data)
    except ValueError as problem:
        raise Refused(f"forged checkpoint {name}: {problem}") from None
    problem = signature_problem(checkpoint, keys)
    if problem:
        raise Refused(f"forged checkpoint {name}: {problem}")
    return checkpoint, copies


def _row_problem(row: Checkpoint, keys) -> str:
    try:
        checkpoint = read_checkpoint(
            checkpoint_name(row.seq), checkpoint_file(row.body, row.signature)
        )
    except ValueError as problem:
        return f"the database's checkpoint row #{row.seq} is {problem}"
    problem = signature_problem(checkpoint, keys)
    if problem or checkpoint.hash != row.hash:
        return f"the database's checkpoint row #{row.seq} is forged: {problem or 'hash differs'}"
    return ""


def _complete(checkpoint, copies: dict, stores) -> list[str]:
    """Write the latest checkpoint to the stores that lack it (down when it was taken, or added
    since) and index it once every store has it. Returns the stores it was copied to."""
    data = checkpoint_file(checkpoint.body, checkpoint.signature)
    name = checkpoint_name(checkpoint.seq)
    copied, everywhere = [], True
    for store in stores:
        if copies.get(store.name) is not None:
            continue
        try:
            store.put(name, data)
            copied.append(store.name)
        except StoreError as problem:
            everywhere = False
            logger.error("audit checkpoint #%s still not in a store: %s", checkpoint.seq, problem)
    if everywhere:
        _index(checkpoint, [store.name for store in stores])
    return copied


def _index(checkpoint, stored: list[str]) -> None:
    """Add the checkpoint's row. Best effort: the stores are the record, the row an index."""
    if Checkpoint.objects.filter(seq=checkpoint.seq).exists():
        return
    try:
        with transaction.atomic():
            Checkpoint.objects.create(
                seq=checkpoint.seq,
                hash=checkpoint.hash,
                signed_at=datetime.fromisoformat(checkpoint.signed_at),
                key_id=checkpoint.key_id,
                body=checkpoint.body,
                signature=checkpoint.signature,
                stored=stored,
            )
    except DatabaseError:
        logger.exception("audit checkpoint #%s written but not indexed", checkpoint.seq)


def _verify_since(start_seq: int, start_hash: str, target: int) -> str:
    """Verify events start_seq (which must still be what the previous checkpoint signed) to
    target with the chain's own range check; returns event #target's hash. Refused at the
    first event that does not hold."""
    part = verify_range(max(start_seq, 1), target)
    if start_seq:
        stored = AuditEvent.objects.filter(seq=start_seq).values_list("hash", flat=True).first()
        if stored != start_hash:
            raise Refused(
                f"rewritten: event #{start_seq} does not match the previous checkpoint: "
                "run verify_audit"
            )
    elif part.first_prev not in (None, GENESIS):
        raise Refused("event #1 does not follow the chain's start: run verify_audit")
    if part.broken_seq is not None:
        reason = REASONS.get(part.reason, "is missing")
        raise Refused(f"event #{part.broken_seq}: {reason}: run verify_audit")
    return part.last_hash if part.verified else start_hash


@shared_task(name=TASK, ignore_result=True)
def checkpoint_task() -> dict:
    """On the beat every AUDIT_CHECKPOINT_INTERVAL_SECONDS, and queued by after_append."""
    outcome = take_checkpoint()
    if outcome.more:  # a backlog: the next part at once, not at the next beat
        send_now(TASK)
    return outcome.as_dict()


def after_append(seq: int) -> None:
    """Called by audit.services.record_event inside the append's transaction: every
    AUDIT_CHECKPOINT_EVERY_EVENTS events, a checkpoint is queued for after the commit. Never
    fails the append: a broker that is down costs this checkpoint, and the beat takes the next."""
    every = settings.AUDIT_CHECKPOINT_EVERY_EVENTS
    if every < 1 or seq % every:
        return
    try:
        enqueue(TASK)
    except Exception:
        logger.exception("could not queue an audit checkpoint after event #%s", seq)


@checks.register(checks.Tags.security)
def check_stores(app_configs=None, **kwargs):
    if not configured_stores():
        return [
            checks.Warning(
                "no audit checkpoint store configured (AUDIT_CHECKPOINT_DIR is empty and "
                "AUDIT_CHECKPOINT_S3_BUCKET is not set): the audit log is unprotected against "
                "someone holding the database",
                id="audit.W011",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=True)
def check_stores_deploy(app_configs=None, **kwargs):
    if configured_stores() and not settings.AUDIT_CHECKPOINT_S3_BUCKET:
        return [
            checks.Warning(
                "audit checkpoints are kept only in a local directory: someone with the host "
                "can delete them along with the database. Set AUDIT_CHECKPOINT_S3_BUCKET to "
                "a bucket with Object Lock",
                id="audit.W012",
            )
        ]
    return []
