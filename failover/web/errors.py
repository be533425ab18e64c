"""Services-layer refusals as HTTP statuses for re-rendered pages (never a 500)."""

from __future__ import annotations

from failover.errors import Conflict, InvalidInput, NotAuthorised, NotFound, ProviderUnavailable


def status_for(exc: Exception) -> int:
    if isinstance(exc, InvalidInput):
        return 400
    if isinstance(exc, NotAuthorised):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, ProviderUnavailable):
        return 503
    return 400
