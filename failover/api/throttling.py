from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class UserThrottle(UserRateThrottle):
    """Per signed-in user (or token's user)."""


class AnonThrottle(AnonRateThrottle):
    """Per client address, before authentication succeeds."""
