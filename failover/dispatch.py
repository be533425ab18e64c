"""The one place that hands work to Celery: after the transaction commits, by task name (so
services never import tasks), and never failing the caller when the broker is down — the
row the task would act on is already committed and the sweeper re-sends it (the outbox).

While the broker is known down, work enqueued on commit by a request is left for the sweeper
for a few seconds instead of each request waiting for a connect timeout (send_now, which the
sweepers and the worker call, always tries). The outage is logged once when it starts and
once when it ends (failover/degrade.py), not once per request."""

from __future__ import annotations

import logging

from celery import Celery
from django.db import transaction
from kombu.exceptions import KombuError

from failover.celery import app
from failover.degrade import BROKER

logger = logging.getLogger(__name__)

CRITICAL_QUEUE = "critical"

_connection_errors: tuple[type[BaseException], ...] | None = None


def _broker_errors(app: Celery) -> tuple[type[BaseException], ...]:
    """What the transport raises when the broker cannot be reached (redis-py's own errors
    are not OSErrors, and kombu re-raises them once its retries are spent)."""
    global _connection_errors
    if _connection_errors is None:
        connection = app.connection_for_write()
        try:
            transport = (*connection.connection_errors, *connection.channel_errors)
        finally:
            connection.release()
        _connection_errors = (KombuError, OSError, *transport)
    return _connection_errors


def send_now(task: str, *args: object, countdown: float | None = None) -> bool:
    """Send the task; False (and nothing raised) when it could not be sent."""
    errors = _broker_errors(app)
    try:
        try:
            app.send_task(task, args=args, countdown=countdown)
        except errors:
            # A pooled connection can be stale after the broker restarted: once more, fresh.
            with app.connection_for_write() as connection:
                app.send_task(task, args=args, countdown=countdown, connection=connection)
    except errors as exc:
        BROKER.failed(exc)
        logger.debug("could not enqueue %s%r; the sweeper will re-send it", task, args)
        return False
    except Exception:  # not the broker's fault, but the caller's work is committed: log it
        logger.exception("could not enqueue %s%r; the sweeper will re-send it", task, args)
        return False
    BROKER.worked()
    return True


def enqueue(task: str, *args: object, countdown: float | None = None) -> None:
    """Send the task once the caller's transaction commits (at once outside one)."""
    # robust: whatever happens in the send, the committed request must still get its answer.
    transaction.on_commit(lambda: send_unless_down(task, *args, countdown=countdown), robust=True)


def send_unless_down(task: str, *args: object, countdown: float | None = None) -> None:
    """Send the task, unless the broker was found down a moment ago (the sweeper re-sends)."""
    if BROKER.skip():
        logger.debug("broker down: %s%r left for the sweeper", task, args)
        return
    send_now(task, *args, countdown=countdown)
