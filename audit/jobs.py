"""Verifying the whole audit chain as a background job: at millions of events it takes longer
than a web request may (gunicorn's timeout), so the API queues a `Verification` and a Celery
worker runs it, writing its progress to the row for whoever polls.

- One job at a time: starting while one is queued or running returns that one (repeated
  clicks do not pile up work). Starts are serialised (an advisory lock on PostgreSQL, the
  immediate write lock on SQLite), so two at once cannot both create one.
- The worker claims a queued job (queued -> running in one UPDATE), so a message delivered
  twice verifies once.
- The worker runs audit/evidence.py's `verify_all`: the chain, then the chain against the
  signed checkpoints read back from the stores outside the database.
- A job ends `done` with the verdict (ok, verified, first broken seq, reason, checkpoints) or
  `failed` with why the job itself could not finish: an error, its time limit, or a worker that
  died (a job left `running` past `STALE_AFTER` is failed by the next start or the sweeper).
- Its start and its result are audited (`audit.verification_started`/`_finished`).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from audit.actions import AUDIT_VERIFICATION_FINISHED, AUDIT_VERIFICATION_STARTED
from audit.evidence import verify_all
from audit.models import AuditEvent, Verification
from audit.services import record_event
from failover.dispatch import enqueue, send_now

logger = logging.getLogger(__name__)

TASK = "audit.tasks.run_verification"
# 3M events verify in ~30 s at ~100k/s: a limit far above that, below the stale threshold so
# a job still running is never the one failed as stale.
SOFT_TIME_LIMIT = 30 * 60
TIME_LIMIT = SOFT_TIME_LIMIT + 60
STALE_AFTER = timedelta(seconds=TIME_LIMIT + 4 * 60)
RESEND_AFTER = timedelta(seconds=60)  # a queued job no worker took: send it again
PROGRESS_SECONDS = 1.0  # at most one UPDATE of `verified` a second
ACTIVE = (Verification.State.QUEUED, Verification.State.RUNNING)
_START_LOCK = 0x61756469_74766572  # any constant: pg_advisory_xact_lock's key for starts


def start_verification(requested_by) -> Verification:
    """Queue a verification of the whole chain for `requested_by` (a user, or None for the
    system), or return the one already queued or running."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_START_LOCK])
        fail_stale()
        active = Verification.objects.filter(state__in=ACTIVE).order_by("requested_at", "pk")
        job = active.first()
        if job is not None:
            if job.state == Verification.State.QUEUED and _waited(job) > RESEND_AFTER:
                enqueue(TASK, job.pk)  # its message may be lost; a second one is harmless
            return job
        job = Verification.objects.create(
            requested_by=getattr(requested_by, "username", None) or "system",
            total=_last_seq(),
        )
        record_event(
            action=AUDIT_VERIFICATION_STARTED,
            obj=job,
            actor=requested_by,
            data={"verification": job.pk, "events": job.total},
        )
        enqueue(TASK, job.pk)
    return job


def fail_stale() -> int:
    """Fail the jobs no worker will finish: running (or still queued) for longer than
    `STALE_AFTER`. Returns how many."""
    cutoff = timezone.now() - STALE_AFTER
    stale = Verification.objects.filter(
        Q(state=Verification.State.RUNNING, started_at__lt=cutoff)
        | Q(state=Verification.State.QUEUED, requested_at__lt=cutoff)
    )
    minutes = round(STALE_AFTER.total_seconds() / 60)
    failed = 0
    for job in stale:
        if job.state == Verification.State.RUNNING:
            reason = (
                f"no result {minutes} min after it started: the worker running it stopped "
                "(killed, restarted or out of memory) before it finished"
            )
        else:
            reason = (
                f"no worker took it within {minutes} min: is a Celery worker consuming "
                "the 'celery' queue?"
            )
        failed += _fail(job.pk, reason, state=job.state)
    return failed


def _waited(job: Verification) -> timedelta:
    return timezone.now() - job.requested_at


def _last_seq() -> int:
    # The unique index on seq answers this at once; counting rows would read them all.
    return AuditEvent.objects.aggregate(last=Max("seq"))["last"] or 0


class ProgressWriter:
    """The verification's progress callback: writes `verified` at most once a second."""

    def __init__(self, pk: int):
        self.pk = pk
        self.written_at = time.monotonic()

    def __call__(self, verified: int) -> None:
        now = time.monotonic()
        if now - self.written_at < PROGRESS_SECONDS:
            return
        self.written_at = now
        Verification.objects.filter(pk=self.pk, state=Verification.State.RUNNING).update(
            verified=verified
        )


@shared_task(
    bind=True,
    name=TASK,
    ignore_result=True,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
)
def run_verification(self, pk: int) -> None:
    claimed = Verification.objects.filter(pk=pk, state=Verification.State.QUEUED).update(
        state=Verification.State.RUNNING, started_at=timezone.now(), total=_last_seq()
    )
    if not claimed:  # running elsewhere, finished, or gone: a repeated message
        logger.info("verification %s is not queued; nothing to do", pk)
        return
    try:
        # The chain, then the chain against the signed checkpoints outside the database. In
        # this process (workers=1): forking a pool inside a Celery worker is not safe.
        verdict = verify_all(progress=ProgressWriter(pk))
    except SoftTimeLimitExceeded:
        limit = (self.request.timelimit or (None, None))[1] or SOFT_TIME_LIMIT  # as sent
        # The limit's signal may have cut the driver off mid-query ("another command is
        # already in progress"): only a new connection can say the job stopped.
        if not connection.in_atomic_block:
            connection.close()
        _fail(pk, f"stopped at its time limit ({limit:g} s) before it finished")
        return
    except Exception as exc:  # the job failed, not the chain: say why on the job
        logger.exception("verification %s failed", pk)
        # After a database error the connection may be gone: a fresh one can still say so.
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
        _fail(pk, _first_line(exc))
        return
    _finish(pk, verdict)


@shared_task(name="audit.tasks.sweep_verifications", ignore_result=True)
def sweep_verifications() -> int:
    """For the beat schedule: fail stale jobs and re-send queued ones whose message may have
    been lost (the broker was down when they were started). Returns how many were failed."""
    failed = fail_stale()
    waiting = Verification.objects.filter(
        state=Verification.State.QUEUED, requested_at__lt=timezone.now() - RESEND_AFTER
    )
    for pk in waiting.values_list("pk", flat=True):
        send_now(TASK, pk)
    return failed


def _finish(pk: int, verdict) -> None:
    data = {"state": "done", "ok": verdict.ok, "verified": verdict.verified}
    data["first_broken_seq"] = verdict.first_broken_seq
    if verdict.reason:
        data["reason"] = verdict.reason
    fields = {"verified": verdict.verified, "ok": verdict.ok, "reason": verdict.reason}
    fields.update(first_broken_seq=verdict.first_broken_seq, checkpoints=verdict.checkpoints)
    if not _settle(pk, Verification.State.RUNNING, Verification.State.DONE, fields, data):
        logger.warning("verification %s finished after it was failed; result dropped", pk)


def _fail(pk: int, reason: str, *, state: str = Verification.State.RUNNING) -> int:
    data = {"state": "failed", "reason": reason}
    return _settle(pk, state, Verification.State.FAILED, {"reason": reason}, data)


def _settle(pk: int, was: str, now: str, fields: dict, data: dict) -> int:
    """Move the job from `was` to its end state `now` and audit it, in one transaction.
    Returns 0 when the job was no longer `was` (someone else settled it)."""
    fields = {**fields, "state": now, "finished_at": timezone.now()}
    jobs = Verification.objects.filter(pk=pk, state=was)
    try:
        with transaction.atomic():
            updated = jobs.update(**fields)
            if updated:
                record_event(
                    action=AUDIT_VERIFICATION_FINISHED,
                    object_type=Verification._meta.label_lower,
                    object_id=str(pk),
                    actor=None,
                    data={"verification": pk, **data},
                )
            return updated
    except DatabaseError as exc:
        # The audit log refused the event (a chain head someone moved, say): the job's answer
        # is still kept, saying it was not audited.
        logger.exception("could not audit the end of verification %s", pk)
        note = f"(its end could not be audited: {_first_line(exc)})"
        fields["reason"] = f"{fields['reason']} {note}".strip()
        try:
            return jobs.update(**fields)
        except DatabaseError:
            logger.exception("could not settle verification %s; the stale sweep will", pk)
            return 0


def _first_line(exc: BaseException) -> str:
    line = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__
