"""The API's rate limit per user (failover/api/throttling.py): a count per window of the
rate's period, one number in the cache however busy the caller, on Redis as in memory."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from failover.api.throttling import UserThrottle
from tests.factories import user
from tests.harness.broker import redis_cache

START = 1_800_000_000.0  # the start of a minute (divisible by 60)


@pytest.fixture
def limited(settings, monkeypatch):
    """The user limit set to `rate`, the throttles' clock to `at[0]`; caches emptied."""
    at = [START + 50]
    monkeypatch.setattr(UserThrottle, "timer", lambda self: at[0])

    def limit(rate: str) -> list[float]:
        monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", {"user": rate, "anon": "120/min"})
        return at

    cache.clear()
    yield limit
    cache.clear()


def statuses(client, calls: int) -> list[int]:
    return [client.get("/api/v1/services/").status_code for _ in range(calls)]


def test_the_limit_opens_at_the_next_window_and_says_when(shop, as_user, limited):
    at = limited("2/min")
    client = as_user("avail")
    assert statuses(client, 3) == [200, 200, 429]
    refused = client.get("/api/v1/services/")
    assert refused.status_code == 429
    # 50 s into the minute: the window turns in 10 s, said as whole seconds rounded up.
    assert refused["Retry-After"] == "11"
    assert refused.json()["error"]["limit"] == "user (2/min)"
    at[0] = START + 60  # the next minute
    assert statuses(client, 3) == [200, 200, 429]


def test_a_busy_caller_costs_one_number_per_window(shop, as_user, limited):
    """DRF's own throttle keeps every call's time of the last period, read and written whole
    on every call; here the cache holds the window's count, whatever the number of calls."""
    limited("1000/min")
    client = as_user("avail")
    assert set(statuses(client, 25)) == {200}
    window = int((START + 50) // 60)
    assert cache.get(f"throttle_user_{user('avail').pk}:{window}") == 25
    assert cache.get(f"throttle_user_{user('avail').pk}") is None  # no list of times


def test_each_user_has_a_limit_of_their_own(shop, as_user, limited):
    limited("2/min")
    assert statuses(as_user("avail"), 3) == [200, 200, 429]
    assert statuses(as_user("ic"), 2) == [200, 200]


def test_on_redis_the_count_is_one_round_trip_that_expires(
    shop, as_user, limited, settings, tmp_path
):
    import redis

    with redis_cache(settings, tmp_path) as url:
        limited("2/min")
        client = as_user("avail")
        assert statuses(client, 3) == [200, 200, 429]
        keys = [k for k in redis.Redis.from_url(url).keys("*") if b"throttle_user_" in k]
        assert len(keys) == 1
        assert int(redis.Redis.from_url(url).get(keys[0])) == 3
        assert 0 < redis.Redis.from_url(url).ttl(keys[0]) <= 120
