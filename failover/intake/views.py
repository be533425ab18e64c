"""The intake doors: authenticate, rate-limit, store, enqueue, answer 202. Nothing else.

These views do not use the API's token authentication: each paging tool proves itself with
its own scheme (failover.intake.tools: PagerDuty signature, Alertmanager bearer/basic
credentials, Opsgenie shared header). One door per registered tool (`view_for`). The
integration is the only active one of the URL's kind, or the one named by
`?integration=<name>` when several exist.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http.request import UnreadablePostError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from failover.api.errors import error_response
from failover.api.serializers import ErrorOut
from failover.errors import InvalidInput, ServiceError
from failover.intake import services
from failover.intake.tools.base import PagingTool

logger = logging.getLogger(__name__)


class TooLarge(InvalidInput):
    def __init__(self):
        super().__init__(
            f"the body is larger than {services.MAX_BODY} bytes", {"body": "too large"}
        )


def read_body(request) -> bytes:
    """At most MAX_BODY bytes, refusing larger bodies before reading them."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise InvalidInput("invalid Content-Length", {"body": "bad length"}) from None
    if length > services.MAX_BODY:
        raise TooLarge()
    try:
        body = request.body
    except RequestDataTooBig:
        raise TooLarge() from None
    except (UnreadablePostError, OSError):
        raise InvalidInput("the body could not be read", {"body": "unreadable"}) from None
    if len(body) > services.MAX_BODY:
        raise TooLarge()
    return body


def _error(exc: ServiceError) -> Response:
    if isinstance(exc, services.Unauthenticated):
        logger.warning("intake authentication failed: %s", exc.reason)
        response = error_response(401, exc.code, exc.message)
        response["WWW-Authenticate"] = 'Bearer realm="intake"'
        return response
    if isinstance(exc, services.Throttled):
        response = error_response(429, exc.code, exc.message, **exc.extra)
        response["Retry-After"] = str(exc.extra["retry_after"])
        return response
    status = 413 if isinstance(exc, TooLarge) else 400
    return error_response(status, exc.code, exc.message, **exc.extra)


class IntakeView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []  # each integration has its own limit, taken after authentication
    renderer_classes = [JSONRenderer]
    kind = ""

    def perform_content_negotiation(self, request, force=False):
        # Paging tools send all sorts of Accept headers; they always get JSON.
        return JSONRenderer(), JSONRenderer.media_type

    def post(self, request):
        try:
            name = request.query_params.get("integration")
            body = read_body(request)  # first: the same work whether the name exists or not
            delivery = services.accept(self.kind, name, request.headers, body)
        except ServiceError as exc:
            return _error(exc)
        except DatabaseError:
            logger.exception("intake could not store a %s delivery", self.kind)
            return error_response(503, "unavailable", "cannot store the delivery now; retry")
        return Response({"delivery": delivery.pk, "status": delivery.status}, status=202)


ACCEPTED = inline_serializer(
    "DeliveryAccepted",
    {
        "delivery": serializers.IntegerField(),
        "status": serializers.ChoiceField(["received", "duplicate", "refused"]),
    },
)


def _schema(tool: str, auth: str):
    return extend_schema_view(
        post=extend_schema(
            summary=f"Receive a {tool} webhook",
            description=f"The native {tool} payload, authenticated by {auth} (not by an API "
            "token). It is stored and answered 202 at once, then processed into signals, "
            "and past a threshold into a failover request, by a background task.",
            tags=["integrations"],
            auth=[],
            request={"application/json": OpenApiTypes.OBJECT},
            parameters=[
                OpenApiParameter(
                    "integration",
                    str,
                    OpenApiParameter.QUERY,
                    required=False,
                    description="The integration's name; needed only when several integrations "
                    "of this kind are active.",
                )
            ],
            responses={
                202: OpenApiResponse(
                    ACCEPTED,
                    description="stored; processed in the background (`duplicate`: seen "
                    "before; `refused`: a signed event outside the replay window, kept as "
                    "evidence, not processed)",
                ),
                400: OpenApiResponse(ErrorOut, description="not JSON"),
                413: OpenApiResponse(ErrorOut, description="larger than 1 MiB"),
                401: OpenApiResponse(
                    ErrorOut,
                    description="unknown integration or wrong credentials (one answer for both)",
                ),
                429: OpenApiResponse(ErrorOut, description="the integration's limit; names it"),
                503: OpenApiResponse(ErrorOut, description="cannot store now; retry"),
            },
        )
    )


def view_for(tool: PagingTool) -> type[IntakeView]:
    """The door of one paging tool, with its schema: the URLs are made from the registry."""
    name = f"{type(tool).__name__}View"
    view = type(name, (IntakeView,), {"kind": tool.kind, "__module__": __name__})
    return _schema(tool.title, tool.proves_by)(view)
