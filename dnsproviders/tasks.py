"""Thin Celery doors onto the executor. Each takes an id and re-reads everything."""

import logging
import threading

from celery import Task, shared_task
from celery.concurrency.prefork import TaskPool as ProcessPool
from celery.signals import worker_process_init, worker_ready
from django.db import connections

from approvals.gate import warm_gate, why_not_submit
from dnsproviders import executor, sweeper
from failover.heap import freeze_loaded

logger = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=True)
def apply_change(self: Task, change_id: int) -> str:
    # In a worker, the gate is asked beside the claim (executor.apply_change); called
    # directly (tests, the shell), inside the caller's transaction, one after the other.
    return executor.apply_change(
        change_id, gate=why_not_submit, overlap=not self.request.called_directly
    )


@shared_task(ignore_result=True)
def poll_change(change_id: int) -> str:
    return executor.poll_change(change_id)


@shared_task(ignore_result=True)
def sweep() -> dict[str, int]:
    return sweeper.sweep()


@worker_ready.connect
def warm_up_if_it_runs_tasks(sender: object = None, **_: object) -> None:
    # A process pool's parent runs no task: its children warm up as each starts (below).
    if not isinstance(getattr(sender, "pool", None), ProcessPool):
        warm_up()


@worker_process_init.connect
def warm_up(**_: object) -> None:
    """Do when a worker (or a pool's child) starts what its first failover would otherwise
    pay for (executor.warm); beside the start, on connections of its own, so a forked child
    shares none."""
    threading.Thread(target=_warm, name="warm-up", daemon=True).start()


def _warm() -> None:
    try:
        executor.warm(gate=warm_gate)
    except Exception:  # a worker that cannot warm up still works, only its first call is slower
        logger.exception("could not warm up for the first DNS change")
    finally:
        connections.close_all()
        freeze_loaded()  # what the process loaded, warm-up included, is kept for good
