"""The API's rate limits. Their counts live in the shared cache; while it is down they are
counted in this process instead (failover/degrade.py), so an outage of Redis loosens the limit
for its duration rather than answering every call with a 500."""

from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from failover.degrade import with_cache


class DegradingThrottle:
    def allow_request(self, request, view):
        return with_cache(lambda store: self._allow_request(store, request, view))

    def _allow_request(self, store, request, view):
        self.cache = store  # DRF's SimpleRateThrottle reads and writes self.cache
        return super().allow_request(request, view)


class UserThrottle(DegradingThrottle, UserRateThrottle):
    """Per signed-in user (or token's user)."""


class AnonThrottle(DegradingThrottle, AnonRateThrottle):
    """Per client address, before authentication succeeds."""
