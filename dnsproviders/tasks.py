"""Thin Celery doors onto the executor. Each takes an id and re-reads everything."""

from celery import shared_task

from approvals.gate import why_not_submit
from dnsproviders import executor, sweeper


@shared_task(ignore_result=True)
def apply_change(change_id: int) -> str:
    return executor.apply_change(change_id, gate=why_not_submit)


@shared_task(ignore_result=True)
def poll_change(change_id: int) -> str:
    return executor.poll_change(change_id)


@shared_task(ignore_result=True)
def sweep() -> dict[str, int]:
    return sweeper.sweep()
