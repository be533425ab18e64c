"""A token bucket in the database, shared by every worker process and host.

Route 53 allows an account 5 requests/s sustained with bursts; we keep the whole fleet under
the configured rate so throttling errors never reach a request.
"""

from __future__ import annotations

import time

from django.db import IntegrityError, transaction
from django.utils import timezone

from dnsproviders.models import RateBucket


def take(key: str, *, rate: float, burst: float) -> float:
    """Take one token if there is one; otherwise return how long to wait for the next."""
    with transaction.atomic():
        now = timezone.now()
        try:
            bucket = RateBucket.objects.select_for_update().get(key=key)
        except RateBucket.DoesNotExist:
            try:
                with transaction.atomic():
                    RateBucket.objects.create(key=key, tokens=burst - 1, updated_at=now)
                return 0.0
            except IntegrityError:  # another worker created it first
                bucket = RateBucket.objects.select_for_update().get(key=key)
        elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
        tokens = min(burst, bucket.tokens + elapsed * rate)
        if tokens >= 1:
            bucket.tokens, bucket.updated_at = tokens - 1, now
            bucket.save(update_fields=["tokens", "updated_at"])
            return 0.0
        return (1 - tokens) / rate


def acquire(key: str, *, rate: float, burst: float, timeout: float = 60.0) -> None:
    """Block until a token is taken (sleeping outside any transaction)."""
    deadline = time.monotonic() + timeout
    while (wait := take(key, rate=rate, burst=burst)) > 0:
        if time.monotonic() + wait > deadline:
            raise TimeoutError(f"rate limit {key} gave no token within {timeout:.0f} s")
        time.sleep(wait)
