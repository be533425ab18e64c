"""Celery finds the tasks module of every app: this one's, and intake's and notify's."""

from celery import shared_task

from failover import heartbeat as beats
from failover import retention


@shared_task(ignore_result=True)
def purge_retention() -> dict[str, int]:
    """Hourly (CELERY_BEAT_SCHEDULE): webhook bodies and idempotency keys past their windows."""
    purged = retention.purge()
    return {"delivery_bodies": purged.bodies, "idempotency_keys": purged.idempotency_keys}


@shared_task(ignore_result=True)
def heartbeat(queue: str) -> None:
    """Sent by beat to each routed queue (CELERY_BEAT_SCHEDULE): the worker that takes it
    shows the queue is consumed."""
    beats.record_queue(queue)


@shared_task(ignore_result=True)
def ping_heartbeat_url() -> str:
    """The dead-man switch, every HEARTBEAT_INTERVAL_SECONDS (failover/heartbeat.py)."""
    return beats.dead_man_switch()
