"""Gives every request an id, answered in X-Request-ID and written on every log line of the
request and of the tasks it enqueues (failover/logcontext.py).

A proxy's or client's X-Request-ID is kept when it is a plain token (so one id can follow a
request through the proxy's logs and ours); anything else is replaced, never echoed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils.log import log_response

from failover.clients import client_address
from failover.logcontext import LogContext, bound, current, sane_request_id

HEADER = "X-Request-ID"
# Routes whose `pk` is a failover request: the pages under /requests/<pk>/ and the API's
# /api/v1/failover-requests/<pk>/... (break-glass and other ids have routes of their own).
_FAILOVER_REQUEST_ROUTES = ("requests/", "api/v1/failover-requests/")


class RequestIdMiddleware:
    """First in MIDDLEWARE, so refusals by later middleware carry the id too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        context = LogContext(
            request_id=sane_request_id(request.headers.get(HEADER)),
            client=client_address(request),
            request=request,
        )
        with bound(context):
            response = self.get_response(request)
            if response.status_code >= 400:
                # Django logs a 4xx/5xx once the middleware has returned, where this context
                # is gone; logged here, its own call finds it done (_has_been_logged).
                log_response(
                    "%s: %s",
                    response.reason_phrase,
                    request.path,
                    response=response,  # type: ignore[arg-type]  # any response, as Django passes
                    request=request,
                )
        response[HEADER] = context.request_id
        return response

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> None:
        """The failover request the view is about, read from the URL: no query, no view
        changed. A request being declared has no id yet; its tasks name it in their args."""
        match = request.resolver_match
        pk = view_kwargs.get("pk")
        if (
            match is not None
            and pk is not None
            and match.route.startswith(_FAILOVER_REQUEST_ROUTES)
        ):
            current().failover_request_id = str(pk)
