"""Celery finds the tasks module of every app: this one's, and intake's and notify's."""

from celery import shared_task

from failover import retention


@shared_task(ignore_result=True)
def purge_retention() -> dict[str, int]:
    """Hourly (CELERY_BEAT_SCHEDULE): webhook bodies and idempotency keys past their windows."""
    purged = retention.purge()
    return {"delivery_bodies": purged.bodies, "idempotency_keys": purged.idempotency_keys}
