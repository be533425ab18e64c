"""Load balancers' and orchestrators' probes, answered before anything checks the Host.

A probe comes by the machine's address or an internal name (Host: 10.0.3.7, localhost), over
plain HTTP: the normal stack would refuse the host (400, ALLOWED_HOSTS) or redirect to HTTPS
(301, SECURE_SSL_REDIRECT), so the web tier would never be marked healthy. This middleware,
first in MIDDLEWARE, serves GET and HEAD of exactly PATHS itself, never calling
request.get_host(); every other path, and any other method on these, goes through the normal
stack, so ALLOWED_HOSTS and the HTTPS redirect still hold for them. The views answer with
nothing about the host (and /metrics checks its own token or networks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from csp.middleware import CSPMiddleware
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve
from django.utils.cache import add_never_cache_headers

PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
METHODS = frozenset({"GET", "HEAD"})


class AnswerProbes:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response
        # Their response halves only add headers (HSTS when secure, nosniff, CSP, frames);
        # their request halves are what must be skipped (SecurityMiddleware's redirect).
        self.headers: list[Any] = [
            SecurityMiddleware(get_response),
            CSPMiddleware(get_response),
            XFrameOptionsMiddleware(get_response),
        ]

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method not in METHODS or request.path_info not in PATHS:
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:  # a probe path with no view (yet): the normal 404
            return self.get_response(request)
        response = match.func(request, *match.args, **match.kwargs)
        if callable(getattr(response, "render", None)):  # a DRF or template response
            response = response.render()
        add_never_cache_headers(response)  # a cached "ok" is no answer at all
        for middleware in self.headers:
            response = middleware.process_response(request, response)
        return response
