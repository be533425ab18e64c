"""A token bucket in the database, shared by every worker process and host.

Route 53 allows an account 5 requests/s sustained with bursts; we keep the whole fleet under
the configured rate so throttling errors never reach a request. The intake doors use the same
bucket per integration.

A token is taken by compare-and-set (read the row, write it back only if nobody changed it
since) rather than under a row lock: a lock held across a read, a computation and a write
queued every request of a burst behind the one holding it. A process starts the comparison
from what it wrote last, so an uncontended token is one UPDATE.
"""

from __future__ import annotations

import time
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from dnsproviders.models import RateBucket

ATTEMPTS = 20  # compare-and-set rounds lost to other takers before taking the lock instead
# What this process last wrote to each bucket: while nobody else took a token since, the
# compare-and-set can start from it and a token costs one UPDATE, not a SELECT and an UPDATE.
_written: dict[str, tuple[float, datetime]] = {}


def take(key: str, *, rate: float, burst: float) -> float:
    """Take one token if there is one; otherwise return how long to wait for the next."""
    row = _written.get(key)
    for _ in range(ATTEMPTS):
        if row is None:
            row = RateBucket.objects.filter(key=key).values_list("tokens", "updated_at").first()
            if row is None:
                try:
                    with transaction.atomic():
                        now = timezone.now()
                        RateBucket.objects.create(key=key, tokens=burst - 1, updated_at=now)
                    _written[key] = (burst - 1, now)
                    return 0.0
                except IntegrityError:  # another taker created it first
                    continue
            fresh = True
        else:
            fresh = False
        stored, updated = row
        tokens, now = _refilled(stored, updated, rate=rate, burst=burst)
        if tokens < 1:
            if not fresh:  # empty by our last write: the bucket itself says how long to wait
                row = None
                continue
            return (1 - tokens) / rate
        won = RateBucket.objects.filter(key=key, tokens=stored, updated_at=updated).update(
            tokens=tokens - 1, updated_at=now
        )
        if won:
            _written[key] = (tokens - 1, now)
            return 0.0
        row = None  # someone else took one since: read the bucket
    return _take_locked(key, rate=rate, burst=burst)


def _refilled(stored: float, updated, *, rate: float, burst: float):
    """The tokens in the bucket now, and now (never before the last take: clocks differ)."""
    now = max(timezone.now(), updated)
    return min(burst, stored + (now - updated).total_seconds() * rate), now


def _take_locked(key: str, *, rate: float, burst: float) -> float:
    with transaction.atomic():
        bucket = RateBucket.objects.select_for_update().get(key=key)
        tokens, now = _refilled(bucket.tokens, bucket.updated_at, rate=rate, burst=burst)
        if tokens < 1:
            return (1 - tokens) / rate
        bucket.tokens, bucket.updated_at = tokens - 1, now
        bucket.save(update_fields=["tokens", "updated_at"])
    _written[key] = (tokens - 1, now)
    return 0.0


def acquire(key: str, *, rate: float, burst: float, timeout: float = 60.0) -> None:
    """Block until a token is taken (sleeping outside any transaction)."""
    deadline = time.monotonic() + timeout
    while (wait := take(key, rate=rate, burst=burst)) > 0:
        if time.monotonic() + wait > deadline:
            raise TimeoutError(f"rate limit {key} gave no token within {timeout:.0f} s")
        _count_wait(key, wait)
        time.sleep(wait)


def _count_wait(key: str, wait: float) -> None:
    # One UPDATE, only when about to sleep anyway: the fast path stays as it was.
    RateBucket.objects.filter(key=key).update(
        waits=F("waits") + 1, waited_seconds=F("waited_seconds") + wait
    )
