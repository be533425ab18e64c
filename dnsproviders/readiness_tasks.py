"""Celery door onto the readiness checks. Registered by `failover.tasks` importing this."""

from celery import shared_task

from dnsproviders import readiness_services


@shared_task(name=readiness_services.TASK, ignore_result=True)
def run_readiness(request_id: int) -> int:
    return len(readiness_services.run_readiness_checks(request_id=request_id))
