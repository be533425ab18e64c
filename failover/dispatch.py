"""The one place that hands work to Celery: after the transaction commits, by task name (so
services never import tasks), and never failing the caller when the broker is down — the
row the task would act on is already committed and the sweeper re-sends it."""

from __future__ import annotations

import logging

from django.db import transaction
from kombu.exceptions import KombuError

logger = logging.getLogger(__name__)

CRITICAL_QUEUE = "critical"


def send_now(task: str, *args, countdown: float | None = None) -> bool:
    from failover.celery import app

    try:
        app.send_task(task, args=args, countdown=countdown)
        return True
    except (KombuError, OSError):
        pass
    # A pooled connection can be stale after the broker restarted: try once on a fresh one.
    try:
        with app.connection_for_write() as connection:
            app.send_task(task, args=args, countdown=countdown, connection=connection)
        return True
    except (KombuError, OSError) as exc:
        logger.warning("could not enqueue %s%r (%s); the sweeper will re-send it", task, args, exc)
        return False


def enqueue(task: str, *args, countdown: float | None = None) -> None:
    transaction.on_commit(lambda: send_now(task, *args, countdown=countdown))
