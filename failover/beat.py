"""Celery beat's scheduler, recording beat's own heartbeat (failover/heartbeat.py).

The default for `celery -A failover beat` (CELERY_BEAT_SCHEDULER): a beat that hangs or dies
stops recording, and /readyz and the dead-man switch say so. A database that does not answer
costs one log line per outage, never the scheduler: the schedule goes on being sent.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.beat import PersistentScheduler
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from failover import heartbeat

logger = logging.getLogger(__name__)


class HeartbeatScheduler(PersistentScheduler):
    """PersistentScheduler (the schedule's state in a local file, as before), plus a
    heartbeat at most every few seconds and a wake-up at least as often."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.recorded_at: float | None = None  # time.monotonic() of the last heartbeat
        self.failing = False
        super().__init__(*args, **kwargs)

    @property
    def every(self) -> float:
        return min(5.0, settings.HEARTBEAT_INTERVAL_SECONDS / 2)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        self.record()
        return min(super().tick(*args, **kwargs), self.every)

    def record(self) -> None:
        now = time.monotonic()
        if self.recorded_at is not None and now - self.recorded_at < self.every:
            return
        # Beat runs outside any request: nothing else closes a connection the server dropped.
        close_old_connections()
        try:
            heartbeat.record(heartbeat.BEAT)
        except DatabaseError as exc:
            connection.close()
            if not self.failing:
                logger.warning("beat cannot record its heartbeat: %s", type(exc).__name__)
            self.failing = True
            return
        if self.failing:
            logger.warning("beat records its heartbeat again")
        self.failing = False
        self.recorded_at = now
