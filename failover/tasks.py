"""Celery finds `failover.tasks`; the sub-packages' tasks register by being imported here."""

from celery import shared_task

from failover import retention
from failover.intake.tasks import *  # noqa: F403
from failover.notify.tasks import *  # noqa: F403


@shared_task(ignore_result=True)
def purge_retention() -> dict[str, int]:
    """Hourly (CELERY_BEAT_SCHEDULE): webhook bodies and idempotency keys past their windows."""
    purged = retention.purge()
    return {"delivery_bodies": purged.bodies, "idempotency_keys": purged.idempotency_keys}
