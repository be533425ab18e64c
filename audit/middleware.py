from __future__ import annotations

from audit.context import acting_as


class AuditActorMiddleware:
    """Makes the signed-in user the actor of events written during the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
        with acting_as(actor):
            return self.get_response(request)
