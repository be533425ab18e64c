"""The outbound guard: where the product's own fetches (readiness checks, notifications) may go.

A target, an identity provider's `jwks_uri` or a notification URL is configuration other
people write: left alone, it turns the worker into a way to read loopback services, the
private network or the cloud metadata endpoint. Every outbound connection goes through
`connect`, which resolves the name once, refuses loopback, private (RFC 1918, ULA),
link-local (169.254/16, fe80::/10, the metadata addresses), multicast, unspecified and
reserved addresses unless OUTBOUND_ALLOW_NETWORKS lists them, and connects to the very address
it checked. A name that resolves to a public address when checked and to 127.0.0.1 a moment
later (DNS rebinding) cannot slip past: there is no second lookup. TLS keeps the name for SNI
and certificate checks, HTTP keeps it for the Host header.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(OSError):
    """The destination is one the guard does not connect to. An OSError so that callers that
    already report unreachable hosts report this too, with its own reason."""


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    raw = settings.OUTBOUND_ALLOW_NETWORKS or []
    if isinstance(raw, str):
        raw = raw.split(",")
    try:
        return [ipaddress.ip_network(item.strip(), strict=False) for item in raw if item.strip()]
    except ValueError as exc:
        raise ImproperlyConfigured(f"OUTBOUND_ALLOW_NETWORKS: {exc}") from None


def _embedded(ip: Address) -> list[Address]:
    """Any IPv4 address the address carries (mapped, 6to4, Teredo client), then itself."""
    found: list[Address] = []
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in (ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None):
            if inner is not None:
                found.append(inner)
    return [*found, ip]


def _category(ip: Address) -> str | None:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata lives here)"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "not globally routable"
    return None


def refusal(address: str | Address) -> str | None:
    """Why the guard will not connect to `address`, or None when it may. An address (or the
    IPv4 address it carries) inside an allowed network may; else one that, or whose carried
    IPv4 address, is not plainly public may not."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    allowed = allowed_networks()
    candidates = _embedded(ip)
    if any(c.version == n.version and c in n for c in candidates for n in allowed):
        return None
    for candidate in candidates:
        if category := _category(candidate):
            return (
                f"{ip} is a {category} address (refused unless OUTBOUND_ALLOW_NETWORKS allows it)"
            )
    return None


def resolve(host: str, port: int) -> list[tuple]:
    """getaddrinfo for a TCP connection: (family, sockaddr) pairs, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


def connect(host: str, port: int, *, timeout: float | None) -> socket.socket:
    """A TCP connection to `host`, only ever to an address the guard allows: the name is
    resolved once and the allowed addresses are tried in order. Raises Refused when every
    address is refused, OSError when none of the allowed ones answers."""
    refused, last_error = [], None
    for family, sockaddr in resolve(host, port):
        reason = refusal(sockaddr[0].split("%", 1)[0])
        if reason:
            refused.append(reason)
            continue
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    if last_error is not None:
        raise last_error
    if refused:
        raise Refused(f"refused to connect to {host}: " + "; ".join(dict.fromkeys(refused)))
    raise OSError(f"{host} resolved to no address")


def _guarded_create_connection(address, timeout=None, source_address=None, **_):
    host, port = address
    return connect(host, port, timeout=timeout)


class HTTPConnection(http.client.HTTPConnection):
    """http.client's connection, connecting only where the guard allows."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection


class HTTPSConnection(http.client.HTTPSConnection):
    """The same over TLS: the checked address is connected to, the name is verified."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection


def peer(conn: http.client.HTTPConnection) -> str:
    """The address a connection actually reached (evidence), or ''."""
    try:
        return str(conn.sock.getpeername()[0]) if conn.sock else ""
    except OSError:
        return ""


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    body: bytes
    peer: str  # the address connected to


class TooLarge(ValueError):
    pass


def request(
    method: str,
    url: str,
    *,
    timeout: float,
    context: ssl.SSLContext | None = None,
    body: bytes | None = None,
    headers: dict | None = None,
    max_bytes: int = 1_000_000,
    truncate: bool = False,
) -> Response:
    """One HTTP(S) exchange through the guard; redirects are answers, never followed.

    `timeout` bounds each socket operation and 3x `timeout` the whole exchange, so a server
    dripping one byte at a time cannot hold a worker. A body over `max_bytes` is cut there
    with `truncate`, else raises TooLarge. Also raises Refused (guard),
    http.client.HTTPException (not HTTP), OSError (network, TLS, timeout) or ValueError (a URL
    that is not http(s) with a host)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    port = parts.port or (443 if scheme == "https" else 80)  # .port raises on a bad port
    if scheme == "https":
        conn = HTTPSConnection(
            parts.hostname, port, timeout=timeout, context=context or ssl.create_default_context()
        )
    else:
        conn = HTTPConnection(parts.hostname, port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + 3 * timeout
    try:
        conn.request(method, target, body=body, headers=headers or {})
        sock, reached = conn.sock, peer(conn)  # the response may take the socket over
        answer = conn.getresponse()
        chunks: list[bytes] = []
        size = 0
        while True:
            left = deadline - time.monotonic()
            too_slow = TimeoutError(f"the answer took longer than {3 * timeout:g} s")
            if left <= 0:
                raise too_slow
            sock.settimeout(min(timeout, left))
            try:
                chunk = answer.read1(65536)
            except TimeoutError:
                raise too_slow if left < timeout else TimeoutError("timed out") from None
            if not chunk:
                if answer.length:  # closed before the Content-Length it announced: not an answer
                    raise http.client.IncompleteRead(b"".join(chunks), answer.length)
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                if truncate:
                    break
                raise TooLarge(f"the answer is larger than {max_bytes} bytes")
        return Response(url, answer.status, b"".join(chunks)[:max_bytes], reached)
    finally:
        conn.close()
