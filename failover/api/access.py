"""Who may see what through the API: services where the caller holds some authority,
narrowed by the token's scopes. Everything else is 404, so existence does not leak."""

from __future__ import annotations

from django.db.models import Exists, Q, QuerySet
from rest_framework import exceptions

from approvals.models import ApiToken
from failover.chain import service_pks_with_authority, services_with_authority


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


def visible_services(request) -> QuerySet:
    """The visible services' primary keys as a subquery, for reading one row: its query
    checks visibility in the same round trip (a token scoped to no service is scoped to all
    of the user's). Lists filter by `visible_service_ids`."""
    pks = service_pks_with_authority(request.user)
    token = token_of(request)
    if token is None:
        return pks
    scoped = ApiToken.services.through.objects.filter(apitoken=token).values("service_id")
    return pks.filter(Q(pk__in=scoped) | ~Exists(scoped))


def require_action(request, action: str) -> None:
    """A scoped token may do only the actions it names."""
    token = token_of(request)
    if token is not None and token.actions and action not in token.actions:
        raise exceptions.PermissionDenied(
            f"this token is not scoped for '{action}' (it allows {', '.join(token.actions)})",
            code="token_scope",
        )
