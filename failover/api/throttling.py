from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class UserThrottle(UserRateThrottle):
    pass


class AnonThrottle(AnonRateThrottle):
    pass
