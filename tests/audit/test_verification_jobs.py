"""The whole-chain verification as a background job (audit/jobs.py): one at a time, progress
while it runs, a verdict or a reason when it ends, and no job left `running` forever by a
worker that died. The worker tests run a real Celery worker on a broker of their own."""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.jobs import (
    STALE_AFTER,
    TASK,
    ProgressWriter,
    run_verification,
    start_verification,
    sweep_verifications,
)
from audit.models import AuditEvent, ChainHead, Verification
from audit.services import record_event
from audit.verify import verify_chain
from tests.factories import user
from tests.harness.owner import owner_connection
from tests.harness.worker import PreforkWorker, celery_worker, wait_for
from tests.tamper import tamper

State = Verification.State


def events(n: int) -> None:
    for i in range(n):
        record_event(action="config.changed", object_type="test", object_id=str(i))


def finished(pk: int) -> list[dict]:
    rows = AuditEvent.objects.filter(action="audit.verification_finished", object_id=str(pk))
    return [e.data for e in rows]


def append_unreadable_event() -> int:
    """An event no reader can load (year 20000: Python's datetime ends at 9999), appended
    where the chain head expects it, so later events still append after it."""
    head = ChainHead.objects.get(pk=1)
    seq, digest = head.seq + 1, "f" * 64
    tamper(
        "INSERT INTO audit_auditevent (seq, created_at, actor_id, actor, action, object_type, "
        "object_id, data, prev_hash, hash) VALUES (%s, %s, NULL, 'x', 'x', 'x', 'x', '{}', "
        "%s, %s)",
        [seq, "20000-01-01 00:00:00+00:00", head.hash, digest],
    )
    tamper("UPDATE audit_chainhead SET seq = %s, hash = %s WHERE id = 1", [seq, digest])
    return seq


# --- progress -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_verify_chain_reports_progress_every_n_events():
    events(45)
    seen: list[int] = []
    result = verify_chain(progress=seen.append, progress_every=10)
    assert result.ok and result.verified == 45
    assert seen == [10, 20, 30, 40]
    assert verify_chain().verified == 45  # and without a callback, nothing changes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_verification_reports_once_per_part():
    events(90)
    seen: list[int] = []
    result = verify_chain(workers=3, min_parallel=1, progress=seen.append)
    assert result.ok and result.verified == 90
    assert len(seen) == 3 and seen == sorted(seen) and seen[-1] == 90


@pytest.mark.django_db
def test_progress_is_written_at_most_once_a_second():
    job = start_verification(None)
    Verification.objects.filter(pk=job.pk).update(state=State.RUNNING, started_at=timezone.now())
    report = ProgressWriter(job.pk)
    with CaptureQueriesContext(connection) as queries:
        for verified in range(1000, 101_000, 1000):  # far faster than once a second
            report(verified)
    assert len(queries) == 0 and Verification.objects.get(pk=job.pk).verified == 0
    time.sleep(1.05)
    with CaptureQueriesContext(connection) as queries:
        report(123_000)
        report(124_000)
    assert len(queries) == 1 and Verification.objects.get(pk=job.pk).verified == 123_000


# --- one job at a time, and none left running ------------------------------------------------


@pytest.mark.django_db
def test_a_job_queued_or_running_is_returned_instead_of_a_second():
    first = start_verification(user("auditor"))
    assert first.state == State.QUEUED and first.requested_by == "auditor"
    assert start_verification(None).pk == first.pk
    Verification.objects.filter(pk=first.pk).update(state=State.RUNNING, started_at=timezone.now())
    assert start_verification(None).pk == first.pk
    assert Verification.objects.count() == 1
    started = AuditEvent.objects.filter(action="audit.verification_started")
    assert [(e.actor, e.object_id) for e in started] == [("auditor", str(first.pk))]


@pytest.mark.django_db
def test_a_job_whose_worker_died_is_failed_by_the_next_start():
    """A worker killed mid-run leaves its job `running`: past STALE_AFTER (longer than the
    task's time limit, so never a live one) the next start fails it and starts anew."""
    dead = start_verification(None)
    long_ago = timezone.now() - STALE_AFTER - timedelta(minutes=1)
    Verification.objects.filter(pk=dead.pk).update(
        state=State.RUNNING, started_at=long_ago, verified=1234
    )
    fresh = start_verification(user("auditor"))
    assert fresh.pk != dead.pk and fresh.state == State.QUEUED
    dead.refresh_from_db()
    assert dead.state == State.FAILED and dead.finished_at is not None
    assert "worker running it stopped" in dead.reason
    assert finished(dead.pk) == [
        {"verification": dead.pk, "state": "failed", "reason": dead.reason}
    ]
    # A message delivered again for the dead job does nothing now.
    run_verification(dead.pk)
    dead.refresh_from_db()
    assert dead.state == State.FAILED and len(finished(dead.pk)) == 1


@pytest.mark.django_db
def test_a_job_no_worker_took_is_failed_by_the_sweeper():
    lost = start_verification(None)
    Verification.objects.filter(pk=lost.pk).update(
        requested_at=timezone.now() - STALE_AFTER - timedelta(minutes=1)
    )
    assert sweep_verifications() == 1
    lost.refresh_from_db()
    assert lost.state == State.FAILED and "no worker took it" in lost.reason


@pytest.mark.django_db
def test_a_repeated_message_for_a_running_job_does_not_verify_twice():
    job = start_verification(None)
    now = timezone.now()
    Verification.objects.filter(pk=job.pk).update(state=State.RUNNING, started_at=now)
    run_verification(job.pk)  # the broker delivers it again while the first still runs
    job.refresh_from_db()
    assert (job.state, job.started_at, job.verified) == (State.RUNNING, now, 0)
    assert finished(job.pk) == []


@pytest.mark.django_db
def test_a_job_that_raises_ends_failed_with_the_reason():
    events(3)
    broken_at = append_unreadable_event()
    job = start_verification(None)
    run_verification(job.pk)
    job.refresh_from_db()
    assert job.state == State.FAILED and job.ok is None
    assert job.reason.split(":")[0] in ("DataError", "AttributeError", "ValueError")
    assert finished(job.pk) == [{"verification": job.pk, "state": "failed", "reason": job.reason}]
    assert AuditEvent.objects.filter(action="audit.verification_finished").get().seq > broken_at


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_time_limit_that_cuts_a_query_off_still_ends_the_job_failed(monkeypatch):
    """Celery's soft time limit is a signal: it can land while the driver waits on the
    database, leaving that connection mid-command. The job must still end failed, saying so,
    not stay running until the stale sweep (seen under prefork in CI)."""
    from failover.demo.scale import seed_events

    seed_events(55_000)  # one progress report (every 50,000 events) during the run
    monkeypatch.setattr("audit.jobs.PROGRESS_SECONDS", 0)
    job = Verification.objects.create(requested_by="test")
    main = threading.main_thread().ident
    errors: list[BaseException] = []

    def hold_the_row_then_signal():
        try:
            with owner_connection() as owner:
                while (
                    owner.execute(
                        "SELECT state FROM audit_verification WHERE id = %s", [job.pk]
                    ).fetchone()[0]
                    != State.RUNNING
                ):
                    owner.rollback()
                    time.sleep(0.005)
                # Its progress UPDATE now waits on this lock: the limit lands in that wait.
                owner.execute("SELECT 1 FROM audit_verification WHERE id = %s FOR UPDATE", [job.pk])
                waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                with owner_connection() as watcher:
                    deadline = time.monotonic() + 20
                    while not watcher.execute(waiting).fetchone()[0]:
                        assert time.monotonic() < deadline, "the progress write never waited"
                        watcher.rollback()
                        time.sleep(0.01)
                signal.pthread_kill(main, signal.SIGALRM)
                time.sleep(0.5)
                owner.commit()
        except BaseException as exc:  # reported by the test's own thread
            errors.append(exc)

    def soft_limit(*_):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, soft_limit)
    helper = threading.Thread(target=hold_the_row_then_signal)
    try:
        helper.start()
        run_verification(job.pk)
    finally:
        helper.join(30)
        signal.signal(signal.SIGALRM, previous)
    assert not errors, errors
    job.refresh_from_db()
    assert job.state == State.FAILED, (job.state, job.reason)
    assert job.reason.startswith("stopped at its time limit"), job.reason
    assert finished(job.pk) == [{"verification": job.pk, "state": "failed", "reason": job.reason}]


@pytest.mark.django_db
def test_the_job_checks_the_chain_against_the_signed_checkpoints(key):
    """A cut with the head rewound verifies as a chain; the checkpoint outside the database
    gives it away, and the job says so."""
    from audit.checkpoints import take_checkpoint
    from tests.audit.conftest import cut

    events(10)
    assert take_checkpoint().status == "taken"
    cut(keep=5)
    job = start_verification(None)
    run_verification(job.pk)
    job.refresh_from_db()
    assert (job.state, job.ok) == (State.DONE, False)
    assert job.first_broken_seq is not None and job.reason
    assert job.checkpoints["checked"] == 1 and job.checkpoints["problem"] == job.reason


# --- through a real worker ---------------------------------------------------------------------


@pytest.fixture
def worker(tmp_path, zone_dir):
    with celery_worker(tmp_path, zone_dir) as started:
        yield started


def settled(pk: int) -> Verification | None:
    job = Verification.objects.get(pk=pk)
    return job if job.state in (State.DONE, State.FAILED) else None


@pytest.mark.django_db(transaction=True)
def test_a_worker_verifies_the_chain_and_a_failure_is_reported(worker):
    events(20)
    started = start_verification(user("auditor"))
    job = wait_for(lambda: settled(started.pk), what="the job")
    assert (job.state, job.ok, job.first_broken_seq) == (State.DONE, True, None)
    assert job.verified == job.total == 21  # the 20 and the job's own start
    assert job.started_at >= job.requested_at and job.finished_at >= job.started_at
    # An event the verifier cannot read: the job fails and says why, the worker carries on.
    append_unreadable_event()
    failed = start_verification(None)
    failed = wait_for(lambda: settled(failed.pk), what="the second job")
    assert failed.state == State.FAILED and failed.ok is None and failed.reason
    assert finished(failed.pk) == [
        {"verification": failed.pk, "state": "failed", "reason": failed.reason}
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_progress_shows_while_a_long_chain_verifies_and_a_killed_worker_is_cleaned_up(
    worker, tmp_path, zone_dir
):
    from failover.demo.scale import seed_events

    seed_events(200_000)
    job = start_verification(user("auditor"))

    def midway():
        row = Verification.objects.get(pk=job.pk)
        return row if row.state == State.RUNNING and 0 < row.verified < row.total else None

    seen = wait_for(midway, timeout=60, what="progress while it runs")
    assert seen.total >= 200_000 and seen.verified % 50_000 == 0
    done = wait_for(lambda: settled(job.pk), timeout=60, what="the verdict")
    assert (done.state, done.ok, done.verified) == (State.DONE, True, done.total)

    # Progress costs one UPDATE a second at most, not one per event (here in this process, so
    # its queries can be counted).
    third = Verification.objects.create(requested_by="test")
    with CaptureQueriesContext(connection) as queries:
        began = time.monotonic()
        run_verification(third.pk)
        seconds = time.monotonic() - began
    writes = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "audit_verification"')]
    assert Verification.objects.get(pk=third.pk).state == State.DONE
    assert 2 <= len(writes) <= 2 + seconds  # the claim, the progress, the verdict

    # The worker dies mid-run: the job stays running (no worker will finish it) until it is
    # stale; then the next start fails it and queues a new one.
    second = start_verification(None)
    wait_for(
        lambda: Verification.objects.filter(pk=second.pk, state=State.RUNNING).exists(),
        what="the second job to run",
    )
    worker.kill()
    time.sleep(1)
    second.refresh_from_db()
    assert second.state == State.RUNNING and second.verified < second.total
    assert start_verification(None).pk == second.pk  # not stale yet: still the one
    Verification.objects.filter(pk=second.pk).update(
        started_at=timezone.now() - STALE_AFTER - timedelta(seconds=1)
    )
    fourth = start_verification(None)
    second.refresh_from_db()
    assert second.state == State.FAILED and fourth.state == State.QUEUED

    # Under prefork (docker-compose's pool) the time limits hold: a run past its soft limit
    # ends failed, saying so (the limit is cut to half a second for this message).
    from failover.celery import app

    Verification.objects.filter(pk=fourth.pk).update(state=State.FAILED)  # not this one
    slow = Verification.objects.create(requested_by="test")
    broker = SimpleNamespace(env={k: v for k, v in worker.env.items() if "CELERY" in k})
    prefork = PreforkWorker(broker, tmp_path, zone_dir, queues="celery").start()
    try:
        app.send_task(TASK, args=[slow.pk], soft_time_limit=0.5, time_limit=30)
        slow = wait_for(lambda: settled(slow.pk), timeout=60, what="the time limit")
    finally:
        prefork.stop()
    assert slow.state == State.FAILED and slow.reason == (
        "stopped at its time limit (0.5 s) before it finished"
    )
    assert 0 <= slow.verified < slow.total
