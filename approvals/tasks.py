from celery import shared_task

from approvals.services import expire_stale_requests as expire


@shared_task(ignore_result=True)
def expire_stale_requests() -> dict[str, int]:
    return expire()
