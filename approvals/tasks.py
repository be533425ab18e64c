from celery import shared_task

from approvals.drills import open_due_drills as open_them
from approvals.services import expire_stale_requests as expire


@shared_task(ignore_result=True)
def expire_stale_requests() -> dict[str, int]:
    return expire()


@shared_task(ignore_result=True)
def open_due_drills() -> list[int]:
    """Beat, hourly: the drills policies schedule (approvals/drills.py)."""
    return open_them()
