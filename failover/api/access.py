"""Who may see what through the API: services where the caller holds some authority,
narrowed by the token's scopes. Everything else is 404, so existence does not leak."""

from __future__ import annotations

from rest_framework import exceptions

from approvals.models import ApiToken
from failover.chain import services_with_authority


def token_of(request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


def visible_service_ids(request) -> set[int]:
    cached = getattr(request, "_visible_service_ids", None)
    if cached is not None:
        return cached
    ids = services_with_authority(request.user)
    token = token_of(request)
    if token is not None:
        scoped = set(token.services.values_list("pk", flat=True))
        if scoped:
            ids &= scoped
    request._visible_service_ids = ids
    return ids


def require_action(request, action: str) -> None:
    """A scoped token may do only the actions it names."""
    token = token_of(request)
    if token is not None and token.actions and action not in token.actions:
        raise exceptions.PermissionDenied(
            f"this token is not scoped for '{action}' (it allows {', '.join(token.actions)})",
            code="token_scope",
        )
