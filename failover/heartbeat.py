"""Heartbeats of the background roles, and the dead-man switch built on them.

Nothing else notices when beat or a queue's workers stop: scheduled work (sweepers, rollback
checks, request expiry, audit checkpoints) just never happens. So each role records when it
last ran: "beat" from its scheduler (failover/beat.py), "queue:<name>" from whichever worker
takes that queue's heartbeat task (beat sends one per routed queue each interval). A heartbeat
older than HEARTBEAT_STALE_SECONDS, or never seen, is stale: /readyz says so, and the
dead-man switch stops pinging HEARTBEAT_URL so that the monitoring service pages someone.

`ages` and `stale` are the API the readiness view, the metrics and `check_heartbeat` share.

A worker taking a queue's heartbeat also leaves the heartbeat's time in its cache: the web
processes that find it in theirs know the two share one. A worker on another cache (another
Redis, or its own memory) never clears the marks the web processes set for it (the intake's
"a task is on its way", failover/intake/services.py), so deliveries wait for the mark to
expire: /readyz says so (`apart`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import cast
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache.backends.base import BaseCache
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from failover import outbound
from failover.degrade import shared_cache, with_cache
from failover.models import Heartbeat

logger = logging.getLogger(__name__)

BEAT = "beat"
# Seconds for each step of a ping; 3x bounds the whole exchange (failover/outbound.py).
PING_TIMEOUT = 5.0

# What each stale heartbeat means for the people using the app. The web tier keeps serving
# through all of them: they degrade readiness, they never take the web processes out.
EFFECTS = {
    BEAT: "scheduled work has stopped: DNS changes and rollback checks, webhook deliveries, "
    "notifications and readiness checks lost to an outage are no longer re-sent, open "
    "requests do not expire, audit checkpoints are not taken, queue heartbeats are not sent",
    "queue:critical": "DNS changes of approved failovers and rollbacks wait in the queue",
    "queue:readiness": "readiness checks of failover targets wait; requests wait on them until "
    "their deadline fails them",
    "queue:intake": "webhook deliveries are stored and acknowledged but not turned into signals",
    "queue:celery": "notifications, request expiry, audit checkpoints and the sweepers wait",
}
APART = (
    "the workers taking this queue use another cache than this web process: they do not "
    "see the marks it leaves them, and webhook deliveries wait up to 10 s, or for the "
    "sweeper, before they are processed"
)


def queue(name: str) -> str:
    return f"queue:{name}"


def expected() -> list[str]:
    """Every heartbeat a healthy deployment records: beat's and each routed queue's."""
    return [BEAT, *(queue(name) for name in settings.HEARTBEAT_QUEUES)]


def effect(name: str) -> str:
    if name in EFFECTS:
        return EFFECTS[name]
    return f"tasks routed to the {name.removeprefix('queue:')} queue wait"


def record(name: str, now: datetime | None = None) -> None:
    """Note that `name` is alive now. Two workers on one queue may race to create the row."""
    at = now or timezone.now()
    if Heartbeat.objects.filter(name=name).update(at=at):
        return
    try:
        with transaction.atomic():
            Heartbeat.objects.create(name=name, at=at)
    except IntegrityError:
        Heartbeat.objects.filter(name=name).update(at=at)


def record_queue(name: str) -> None:
    """A worker took queue `name`'s heartbeat: the time goes into its cache first, then into
    the database, so that a reader finding the database's finds the cache's too."""
    at = timezone.now()
    with_cache(lambda c: cast(BaseCache, c).set(_mark(queue(name)), at.timestamp(), timeout=None))
    record(queue(name), at)


def apart(ages: dict[str, float | None], now: datetime) -> list[str]:
    """The queues whose last heartbeat was taken by a worker on another cache than this
    process's: fresh in the database, missing from the cache although the cache has been up
    since before it (a cache restarted since then holds no heartbeat yet; it is not told
    apart from one never shared until the next heartbeat). Call with the cache answering."""
    fresh = {
        name: now.timestamp() - age
        for name, age in ages.items()
        if name.startswith("queue:") and not is_stale(age) and age is not None
    }
    if not fresh or not shared_cache():
        return []

    def read(store: BaseCache) -> list[str]:
        store.add(CACHE_UP_SINCE, now.timestamp(), timeout=None)
        marks = store.get_many([CACHE_UP_SINCE, *(_mark(name) for name in fresh)])
        since = marks.get(CACHE_UP_SINCE, now.timestamp())
        return [
            name
            for name, at in fresh.items()
            if at > since and marks.get(_mark(name), 0.0) < at - 1.0  # 1 s: clocks and rounding
        ]

    return with_cache(lambda c: read(cast(BaseCache, c)), fallback=lambda: [])


def _mark(name: str) -> str:
    return f"heartbeat:{name}"


CACHE_UP_SINCE = "heartbeat:cache-up-since"


def ages_of(names: Iterable[str], now: datetime | None = None) -> dict[str, float | None]:
    """Seconds since each named heartbeat (one query); None for one never recorded."""
    names = list(names)
    now = now or timezone.now()
    seen = dict(Heartbeat.objects.filter(name__in=names).values_list("name", "at"))
    # A clock a little behind the recorder's must not give a negative age.
    return {
        name: max(0.0, (now - seen[name]).total_seconds()) if name in seen else None
        for name in names
    }


def ages(now: datetime | None = None) -> dict[str, float | None]:
    """Seconds since each expected heartbeat ("beat", "queue:<name>"); None = never seen."""
    return ages_of(expected(), now)


def is_stale(age: float | None) -> bool:
    return age is None or age > settings.HEARTBEAT_STALE_SECONDS


def stale(now: datetime | None = None) -> list[str]:
    """The expected heartbeats never seen or older than HEARTBEAT_STALE_SECONDS."""
    return [name for name, age in ages(now).items() if is_stale(age)]


def dead_man_switch(now: datetime | None = None) -> str:
    """Ping HEARTBEAT_URL when every heartbeat is fresh; otherwise withhold the ping (so the
    monitoring service pages someone once its grace period runs out) and log why. Never
    raises: a failing monitoring endpoint must not turn into failing tasks. Returns the
    outcome: "off", "pinged", "ping failed" or "withheld"."""
    if not settings.HEARTBEAT_URL:
        return "off"
    try:
        late = stale(now)
    except DatabaseError as exc:
        late = [f"the database ({type(exc).__name__})"]
    if late:
        logger.warning("dead-man switch: not pinging, stale: %s", ", ".join(late))
        if settings.HEARTBEAT_FAIL_URL:
            _ping(settings.HEARTBEAT_FAIL_URL)
        return "withheld"
    return "pinged" if _ping(settings.HEARTBEAT_URL) else "ping failed"


def _ping(url: str) -> bool:
    """One GET through the outbound guard: GET is what every heartbeat service accepts
    (healthchecks.io, Opsgenie, Better Stack, Dead Man's Snitch, Uptime Kuma) and the ping
    carries nothing. Errors are logged with the host only: the URL is a credential."""
    host = urlsplit(url).hostname or "?"
    headers = {"User-Agent": "failover-approvals dead-man switch"}
    if settings.HEARTBEAT_AUTHORIZATION:
        headers["Authorization"] = settings.HEARTBEAT_AUTHORIZATION
    try:
        answer = outbound.request(
            "GET", url, timeout=PING_TIMEOUT, headers=headers, max_bytes=1000, truncate=True
        )
    except Exception as exc:  # refused, unreachable, not HTTP, a bad URL: logged, never raised
        # An OSError's text (refused by the guard, timed out) names no URL; a ValueError's does.
        reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else type(exc).__name__
        logger.warning("dead-man switch: the ping to %s failed: %s", host, reason)
        return False
    if not 200 <= answer.status < 300:
        logger.warning("dead-man switch: the ping to %s answered HTTP %s", host, answer.status)
        return False
    return True
