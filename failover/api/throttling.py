"""The API's rate limits: a count per calendar window of the rate's period (a minute for
"1200/min") in the shared cache, one round trip a call (INCR and EXPIRE pipelined) and a few
bytes. DRF's own throttles keep every call's time of the last period and read and write the
whole list on every call: at the limit, 1,200 floats each way per call, and the bigger the
limit the slower every call. A whole period's worth may come at once at a window's turn, as
with the intake doors' limits. While the cache is down the counts are kept in this process
instead (failover/degrade.py), so an outage of Redis loosens the limit for its duration rather
than answering every call with a 500."""

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from failover.degrade import increment, with_cache


class WindowThrottle(SimpleRateThrottle):
    """SimpleRateThrottle's rates and cache keys, counted per window."""

    num_requests: int  # set by SimpleRateThrottle from the rate
    duration: int
    _wait = 0.0

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        counter = f"{key}:{window}"
        keep = 2 * int(self.duration)  # past its window's end on any clock
        count = with_cache(lambda store: increment(store, counter, keep))
        self._wait = 0.0 if count <= self.num_requests else (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self) -> float:
        return self._wait


class UserThrottle(WindowThrottle, UserRateThrottle):
    """Per signed-in user (or token's user)."""


class AnonThrottle(WindowThrottle, AnonRateThrottle):
    """Per client address, before authentication succeeds."""
