"""Live fragments: parts of a page that htmx re-fetches every 2 s.

Each fragment carries a version of what it shows. A poll that sends the current version gets
204 No Content (htmx swaps nothing), so the page only changes when the data did: no flicker,
no lost scroll, and a half-typed form survives until its actions really change.
"""

from __future__ import annotations

import hashlib

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

POLL = "every 2s"


def version_of(*parts) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:16]


def _wrap(element_id: str, url: str, version: str, inner: str) -> str:
    return render_to_string(
        "web/_live.html",
        {
            "element_id": element_id,
            "url": url,
            "version": version,
            "inner": mark_safe(inner),  # rendered (and escaped) by our own template
            "poll": POLL,
        },
    )


def render_live(request, *, element_id, url, template, context, version=None) -> str:
    """The fragment's HTML wrapped in its polling element. Without a `version`, the rendered
    HTML is the version (fine for fragments without forms; forms carry per-render tokens)."""
    inner = render_to_string(template, context, request)
    return _wrap(element_id, url, version or version_of(inner), inner)


def live_response(request, *, element_id, url, template, context, version=None):
    """Answer a poll: 204 when the client already shows this version, else the fragment."""
    inner = render_to_string(template, context, request)
    version = version or version_of(inner)
    if request.GET.get("v") == version:
        return HttpResponse(status=204)
    return HttpResponse(_wrap(element_id, url, version, inner))
