"""The API's rate limits, counted per calendar window of the rate's period in the shared cache
(failover/degrade.wait_in_window, as the intake doors' are). DRF's own throttles keep every
call's time of the last period and read and write the whole list on every call. While the
cache is down the counts are kept in this process, so an outage of Redis loosens the limit for
its duration rather than answering every call with a 500."""

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

from failover.degrade import wait_in_window


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
        self._wait = wait_in_window(key, self.num_requests, self.duration, now=self.timer())
        return self._wait == 0

    def wait(self) -> float:
        return self._wait


class UserThrottle(WindowThrottle, UserRateThrottle):
    """Per signed-in user (or token's user)."""


class AnonThrottle(WindowThrottle, AnonRateThrottle):
    """Per client address, before authentication succeeds."""
