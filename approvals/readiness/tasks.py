"""Celery doors onto the readiness checks."""

from celery import shared_task

from approvals.readiness import services
from approvals.readiness.identity_drill import run_request_checks
from failover.services import READINESS_TASK


@shared_task(name=READINESS_TASK, ignore_result=True)
def run_readiness(request_id: int) -> int:
    return len(run_request_checks(request_id=request_id))


@shared_task(ignore_result=True)
def sweep() -> int:
    """Re-send the checks of open requests whose first run was lost (broker down at declare)."""
    return services.resend_missing_checks()
