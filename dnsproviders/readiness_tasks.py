"""Celery door onto the readiness checks. Registered by `failover.tasks` importing this."""

from celery import shared_task

from dnsproviders import readiness_services


@shared_task(name=readiness_services.TASK, ignore_result=True)
def run_readiness(request_id: int) -> int:
    return len(readiness_services.run_readiness_checks(request_id=request_id))


@shared_task(name="dnsproviders.readiness_tasks.sweep", ignore_result=True)
def sweep() -> int:
    """Re-send the checks of open requests whose first run was lost (broker down at declare)."""
    return readiness_services.resend_missing_checks()
