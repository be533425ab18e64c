"""The address a request came from, as far as our own proxies can vouch for it.

Sign-in throttling (failover/web/signin_throttle.py) counts by it and the audit of refused
sign-ins (identity/views/sso.py) names it: both read it here.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest


@lru_cache(maxsize=8)
def _networks(
    proxies: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _is_proxy(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address in network for network in _networks(tuple(settings.SIGNIN_TRUSTED_PROXIES)))


def client_address(request: HttpRequest | None) -> str:
    """REMOTE_ADDR, or behind our proxies the address the nearest of them saw.

    X-Forwarded-For is read right to left: each entry was appended by the hop to its right,
    so the first entry that is not one of our proxies is the client; entries further left
    were written by the client itself and prove nothing. Only a connection from a trusted
    proxy is asked at all, so nobody reaching the app directly can choose their address."""
    if request is None:
        return ""
    remote = request.META.get("REMOTE_ADDR", "")[:100]
    if not settings.SIGNIN_TRUST_X_FORWARDED_FOR:
        return remote
    try:
        if not _is_proxy(ipaddress.ip_address(remote)):
            return remote
    except ValueError:
        return remote
    client = remote
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-20:]):
        try:
            address = ipaddress.ip_address(hop.strip())
        except ValueError:
            break  # not written by a proxy of ours: keep the nearest address we can vouch for
        client = str(address)
        if not _is_proxy(address):
            break
    return client
