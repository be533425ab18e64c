"""One error shape for every API response that is not a success:

    {"error": {"code": "machine_readable", "message": "for a person", ...details}}

Service errors map to statuses here and nowhere else.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from failover import errors

logger = logging.getLogger(__name__)

SERVICE_STATUS = [
    (errors.InvalidInput, status.HTTP_400_BAD_REQUEST),
    (errors.NotAuthorised, status.HTTP_403_FORBIDDEN),
    (errors.NotFound, status.HTTP_404_NOT_FOUND),
    (errors.ProviderUnavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
    (errors.Conflict, status.HTTP_409_CONFLICT),
]


def error_response(status_code: int, code: str, message: str, **details) -> Response:
    body = {"error": {"code": code, "message": message, **details}}
    return Response(body, status=status_code)


def _field_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as flat dotted keys, like the services layer's fields."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            out.update(_field_errors(value, f"{prefix}{key}."))
        return out
    key = prefix.rstrip(".") or "non_field_errors"
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        out = {}
        for index, item in enumerate(detail):
            out.update(_field_errors(item, f"{key}.{index}."))
        return out
    return {key: [str(e) for e in detail] if isinstance(detail, list) else [str(detail)]}


def exception_handler(exc, context):
    if isinstance(exc, errors.ServiceError):
        details = dict(exc.extra)
        if "fields" in details:  # one shape for field errors: name -> list of messages
            details["fields"] = {
                k: v if isinstance(v, list) else [v] for k, v in details["fields"].items()
            }
        for cls, code in SERVICE_STATUS:
            if isinstance(exc, cls):
                return error_response(code, exc.code, exc.message, **details)
        return error_response(400, exc.code, exc.message, **details)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        return error_response(
            400, "invalid", "the request is invalid", fields=_field_errors(exc.detail)
        )
    if isinstance(exc, exceptions.Throttled):
        scope = getattr(exc, "scope", None) or "request"
        response = error_response(
            429,
            "throttled",
            f"rate limit '{scope}' exceeded"
            + (f"; retry in {int(exc.wait) + 1} s" if exc.wait is not None else ""),
            limit=scope,
            retry_after=int(exc.wait) + 1 if exc.wait is not None else None,
        )
        if exc.wait is not None:
            response["Retry-After"] = str(int(exc.wait) + 1)
        return response
    if isinstance(exc, exceptions.APIException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response = error_response(
            exc.status_code,
            exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code,
            detail,
        )
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    return None  # anything else is a bug: let Django log it
