"""Live fragments: parts of a page that htmx re-fetches every 2 s.

Each fragment carries a version of what it shows. A poll that sends the current version gets
204 No Content (htmx swaps nothing), so the page only changes when the data did: no flicker,
no lost scroll, and a half-typed form survives until its actions really change.

Building a fragment to learn its version is most of a page's work, and every open page polls
every 2 s. So a page that can say cheaply whether its data changed (a fingerprint: one query)
keeps a memo per fragment and viewer: "with data at this fingerprint, the fragment was this
version, true until then". A poll whose version is the memo's gets 204 without building
anything; any other poll (data changed, memo past its time, cache unreachable) builds the
fragment as before and writes the memo again. The memo lives in the shared cache (Redis), or
in this process's memory while Redis is down.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache.backends.base import BaseCache
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from failover.degrade import with_cache

# The event app.js sends a page's pollers every 2 s (from timers htmx's "every" would nest).
POLL = "live-poll"
MEMO_PREFIX = "live:v1"
# A countdown's words ("in 3 hours, 59 minutes") change with the clock, its datetime only with
# the data, and the page ticks the words itself (app.js): left in a version, they made a poll
# minutes later send the part again with nothing changed, swapped under someone typing.
COUNTDOWN_WORDS = re.compile(r"(<time [^>]*\bdata-countdown\b[^>]*>)[^<]*(</time>)")


def version_of(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Memo:
    """Where a fragment's version is remembered (`key` names the fragment, the viewer and the
    data fingerprint) and until when the fragment stays true with that data (`until`)."""

    key: str
    until: datetime | None = None


def shortcut_on() -> bool:
    # Off only in the benchmark's baseline (bench/settings_poll_baseline.py): the full build.
    return bool(getattr(settings, "LIVE_POLL_SHORTCUT", True))


def memo_key(fragment: str, viewer_id: int | None, fingerprint: str) -> str:
    return f"{MEMO_PREFIX}:{fragment}:{viewer_id}:{fingerprint}"


def unchanged(request: HttpRequest, key: str, param: str = "v") -> bool:
    """Whether the poll's version (query parameter `param`) is the one remembered under
    `key`, still in its time."""
    sent = request.GET.get(param)
    if not sent or not shortcut_on():
        return False
    # Redis down: this process's memory (failover/degrade.py). A memo is true wherever kept.
    found = with_cache(lambda c: cast(BaseCache, c).get(key))
    if not isinstance(found, tuple) or len(found) != 2:
        return False
    version, until = found
    return version == sent and time.time() < until


def remember(memo: Memo | None, version: str) -> None:
    if memo is None or memo.until is None or not shortcut_on():
        return
    until = memo.until.timestamp()
    seconds = int(until - time.time()) + 1
    if seconds <= 0:
        return
    with_cache(lambda c: cast(BaseCache, c).set(memo.key, (version, until), timeout=seconds))


def _wrap(element_id: str, url: str, version: str, inner: str, *, oob: bool = False) -> str:
    """`url` empty: the element does not poll by itself (a page poll answers for it, and
    swaps it out of band: `oob`)."""
    return render_to_string(
        "web/_live.html",
        {
            "element_id": element_id,
            "url": url,
            "version": version,
            "inner": mark_safe(inner),  # rendered (and escaped) by our own template
            "poll": POLL,
            "oob": oob,
        },
    )


@dataclass(frozen=True)
class Part:
    """One live part of a page that polls once for all its parts."""

    element_id: str
    version: str
    html: str


def build_part(
    request: HttpRequest,
    *,
    element_id: str,
    url: str,
    template: str,
    context: dict[str, Any],
    version: str | None = None,
    memo: Memo | None = None,
    oob: bool = False,
    polls: bool = False,
) -> Part:
    """A part rendered, its version remembered, wrapped: polling by itself (`polls`, at
    `url`) or answered for by its page's poll (swapped out of band: `oob`). Without a
    `version`, the rendered HTML is the version, but for its countdowns' words (fine for parts
    without forms; forms carry per-render tokens)."""
    inner = render_to_string(template, context, request)
    version = version or version_of(COUNTDOWN_WORDS.sub(r"\1\2", inner))
    remember(memo, version)
    return Part(
        element_id, version, _wrap(element_id, url if polls else "", version, inner, oob=oob)
    )


def page_poller(element_id: str, url: str, parts: list[Part]) -> str:
    """The one element that polls for all of a page's parts, carrying the version of each:
    a page with three parts costs its server one request every 2 s, not three, and its parts
    change together, never one ahead of another."""
    query = urlencode({part.element_id: part.version for part in parts})
    return render_to_string(
        "web/_live_poller.html", {"element_id": element_id, "url": f"{url}?{query}", "poll": POLL}
    )


def render_live(request: HttpRequest, **part: Any) -> str:
    """A part that polls by itself: its HTML."""
    return build_part(request, **part, polls=True).html


def live_response(request: HttpRequest, **part: Any) -> HttpResponse:
    """Answer a part's own poll: 204 when the client already shows this version, else it."""
    built = build_part(request, **part, polls=True)
    if request.GET.get("v") == built.version:
        return HttpResponse(status=204)
    return HttpResponse(built.html)
