"""A small, bounded HTTP(S) GET over urllib for the checkers (no new dependency)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

MAX_BYTES = 1_000_000


class FetchError(Exception):
    pass


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    body: bytes

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise FetchError(f"{self.url} did not return JSON: {exc}") from exc


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect is reported as the 3xx it is, never followed


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
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), _NoRedirect()
    )
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": "failover-readiness/1"}
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            return Response(url, response.status, response.read(MAX_BYTES + 1)[:MAX_BYTES])
    except urllib.error.HTTPError as exc:
        return Response(url, exc.code, b"")
    except urllib.error.URLError as exc:
        raise FetchError(f"cannot reach {url}: {exc.reason}") from exc
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise FetchError(f"cannot reach {url}: {exc}") from exc
