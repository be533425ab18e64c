"""What the app does when a shared dependency (the Redis cache, the Celery broker) is down:
carry on with a stand-in, say so once in the log (not once per request), and try the real
one again a few seconds later. Readiness (failover.views.readyz) probes both directly.

The stand-in for the cache is a cache in this process's memory: while Redis is down, rate
limits and failure counters are counted per process (N web processes allow up to N times the
limit) instead of refusing everyone. The stand-in for the broker is the database: the rows a
task would act on are committed first, and the sweepers send them when the broker is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from failover.celery import app

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How long a process keeps using the stand-in before it tries the real dependency again: each
# try against a dead host costs a connect timeout, which no request should pay every time.
RETRY_SECONDS = 3.0


class Dependency:
    """Whether one shared dependency is known to be down in this process, logged on change."""

    def __init__(self, name: str, meanwhile: str):
        self.name = name
        self.meanwhile = meanwhile
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self.retry_at = 0.0
        self.reason = ""

    def skip(self) -> bool:
        """True while it is known down and not yet due for another try."""
        return self.down_since is not None and time.monotonic() < self.retry_at

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            first = self.down_since is None
            if first:
                self.down_since = time.time()
            self.reason = type(exc).__name__
            self.retry_at = time.monotonic() + RETRY_SECONDS
        if first:
            logger.warning(
                "%s is unreachable (%s: %s); %s",
                self.name,
                self.reason,
                str(exc)[:200],
                self.meanwhile,
            )

    def worked(self) -> None:
        if self.down_since is None:
            return
        with self._lock:
            since, self.down_since = self.down_since, None
        if since is not None:
            logger.warning("%s is reachable again after %.0f s", self.name, time.time() - since)


CACHE = Dependency(
    "the shared cache",
    "rate limits and sign-in and step-up failure counts are kept per process until it is back",
)
BROKER = Dependency(
    "the Celery broker",
    "work waits in the database and the sweepers send it once the broker is back",
)

# Large enough that an attacker's many keys do not cull the counters that matter.
local_cache = LocMemCache("failover-degraded", {"OPTIONS": {"MAX_ENTRIES": 100_000}})


def _cache_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]  # refused, reset, timed out, no such host
    try:
        from redis.exceptions import RedisError  # noqa: PLC0415 (guarded, as redis-py is the cache client)
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    else:
        errors.append(RedisError)
    return tuple(errors)


CACHE_ERRORS = _cache_errors()


def with_cache(operation: Callable[[object], T], fallback: Callable[[], T] | None = None) -> T:
    """`operation(cache)` on the shared cache; while it is down, on this process's stand-in
    (or `fallback()` when the caller has a better one, such as a count in the database)."""
    if not CACHE.skip():
        try:
            result = operation(cache)
        except CACHE_ERRORS as exc:
            CACHE.failed(exc)
        else:
            CACHE.worked()
            return result
    return fallback() if fallback is not None else operation(local_cache)


def wait_in_window(
    key: str, limit: int, period: float, *, now: float, fallback: Callable[[], float] | None = None
) -> float:
    """One more call counted against `limit` per calendar window of `period` seconds (the
    API's and the intake doors' limits) -> the seconds to wait, 0 when within it. A count per
    window, one round trip and one number, where a log of every call's time grows with the
    limit; a whole window's worth may come at once at its turn. While the cache is down,
    `fallback()`, or this process's stand-in."""
    window = int(now // period)
    counter = f"{key}:{window}"

    def wait(store: object) -> float:
        count = _increment(store, counter, keep=2 * int(period))  # past its end on any clock
        return 0.0 if count <= limit else (window + 1) * period - now

    return with_cache(wait, fallback=fallback)


def _increment(store: Any, counter: str, keep: int) -> int:
    """`counter` in `store` plus one, created at 1 if missing, kept `keep` seconds. On Redis
    one round trip (INCR and EXPIRE pipelined), where add + incr through the cache API cost
    three."""
    if store is cache:  # the proxy of the default cache: the backend itself is needed here
        store = caches["default"]
    client_of = getattr(getattr(store, "_cache", None), "get_client", None)
    if isinstance(store, RedisCache) and client_of is not None:
        key = store.make_and_validate_key(counter)
        pipe = client_of(key, write=True).pipeline(transaction=False)
        count, _ = pipe.incr(key).expire(key, keep).execute()
        return int(count)
    store.add(counter, 0, timeout=keep)
    try:
        return store.incr(counter)
    except ValueError:  # evicted between add and incr
        store.add(counter, 1, timeout=keep)
        return 1


def probe_cache() -> str | None:
    """None when the shared cache answers a write and a read now, else what went wrong."""
    try:
        cache.set("readyz:probe", 1, timeout=10)
        cache.get("readyz:probe")
    except CACHE_ERRORS as exc:
        CACHE.failed(exc)
        return type(exc).__name__
    CACHE.worked()
    return None


def probe_broker() -> str | None:
    """None when a fresh connection to the broker opens now, else what went wrong."""
    connection = app.connection_for_write()
    try:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
    except Exception as exc:  # whatever the transport raises, the broker is not usable
        BROKER.failed(exc)
        return type(exc).__name__
    finally:
        connection.release()
    BROKER.worked()
    return None


def shared_cache() -> bool:
    """Whether the cache is one every process shares (Redis, Memcached, the database)."""
    backend = settings.CACHES["default"]["BACKEND"]
    return not backend.endswith(("locmem.LocMemCache", "dummy.DummyCache"))
