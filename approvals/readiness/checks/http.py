"""A small, bounded HTTP(S) GET for the checkers, through the outbound guard.

Whatever a server answers (a non-HTTP banner, a closed connection, broken TLS, a huge or
dripping body, a refused address) comes back as a `FetchError` whose `evidence` says what
happened and what was read, never as an exception the checker did not expect.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from failover import outbound

MAX_BYTES = 1_000_000
SAMPLE = 200  # bytes of a bad answer kept as evidence


def origin(url: str) -> str:
    """scheme://host:port of a URL, lower-cased, with the default port spelt out."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme.lower(), 0)
    except ValueError:
        return ""
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


def sample(data: bytes | str) -> str:
    """The start of what a server sent, printable and safe to store (no NUL, no control
    characters: PostgreSQL text and JSON refuse NUL)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    text = data[:SAMPLE].decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


class FetchError(Exception):
    def __init__(self, message: str, evidence: dict | None = None):
        super().__init__(message)
        self.evidence = evidence or {}


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    body: bytes
    peer: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise FetchError(
                f"{self.url} did not return JSON: {type(exc).__name__}: {exc}",
                {"body_start": sample(self.body), "body_bytes": len(self.body)},
            ) from exc


def get(
    url: str,
    *,
    context: ssl.SSLContext,
    timeout: float,
    require_https: bool = True,
) -> Response:
    scheme = url.split(":", 1)[0].lower()
    if scheme not in ("https", "http") or (require_https and scheme != "https"):
        raise FetchError(f"{url!r} is not an https URL")
    headers = {"Accept": "application/json", "User-Agent": "failover-readiness/1"}
    try:
        answer = outbound.request(
            "GET", url, timeout=timeout, context=context, headers=headers, max_bytes=MAX_BYTES
        )
    except outbound.Refused as exc:
        raise FetchError(f"{url}: {exc}", {"refused": str(exc)}) from exc
    except outbound.TooLarge as exc:
        raise FetchError(f"{url}: {exc}", {"limit_bytes": MAX_BYTES}) from exc
    except http.client.HTTPException as exc:
        # Not HTTP: a banner, a closed connection, a broken chunk. The message holds what
        # was read (BadStatusLine carries the line itself).
        raise FetchError(
            f"{url} did not answer HTTP: {type(exc).__name__}: {sample(str(exc))}",
            {"exception": type(exc).__name__, "read": sample(str(exc))},
        ) from exc
    except (OSError, ValueError) as exc:  # network, TLS, timeouts, a URL with a bad port
        raise FetchError(
            f"cannot reach {url}: {type(exc).__name__}: {exc}",
            {"exception": type(exc).__name__},
        ) from exc
    return Response(url, answer.status, answer.body, answer.peer)
