"""/metrics for Prometheus: django-prometheus's HTTP metrics and the product's own
(failover/metrics.py), behind a bearer token or an allowed network.

Off (404) unless METRICS_TOKEN or METRICS_ALLOWED_NETWORKS is set. The network is the
connection's own address (REMOTE_ADDR): a scraper connects directly, and X-Forwarded-For is
written by whoever sends the request.

Under gunicorn's several worker processes, django-prometheus's counters live in each process:
with PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py clears it at start and marks dead workers)
they are summed across processes from the files there. The product's own metrics are read from
the database, the same from any process.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from failover.metrics import FailoverCollector

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=4)
def _networks(configured: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in configured)


def _from_allowed_network(request: HttpRequest) -> bool:
    networks = _networks(tuple(settings.METRICS_ALLOWED_NETWORKS))
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def _bearer_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        web = CollectorRegistry()
        multiprocess.MultiProcessCollector(web)
    else:
        web = REGISTRY
    own = CollectorRegistry(auto_describe=False)
    own.register(FailoverCollector())
    # Two registries, distinct names: their texts concatenate into one valid exposition.
    return generate_latest(web) + generate_latest(own)


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token and not settings.METRICS_ALLOWED_NETWORKS:
        return HttpResponse("metrics are off\n", status=404, content_type="text/plain")
    allowed = _from_allowed_network(request) or bool(token and _bearer_matches(request, token))
    if not allowed:
        if not token:
            return HttpResponse("not from an allowed network\n", status=403)
        response = HttpResponse("a bearer token is required\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(_exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
