"""The interactive API docs (Swagger UI from drf-spectacular-sidecar, served by this app) under
the site's Content-Security-Policy: the split view loads its init script as a file, and this
page alone allows the one <style> block of its template (by hash) and Swagger UI's icons
(data: SVG images). Nothing inline runs."""

from __future__ import annotations

import base64
import hashlib
import re

from csp.decorators import csp_update
from django.template.loader import get_template
from drf_spectacular.views import SpectacularSwaggerSplitView


def _style_hashes(template_name: str) -> list[str]:
    source = get_template(template_name).template.source
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()}'"
        for style in re.findall(r"<style>(.*?)</style>", source, re.DOTALL)
    ]


def docs_view():
    view = SpectacularSwaggerSplitView.as_view(url_name="schema")
    allowed = {"img-src": ["data:"]}
    if hashes := _style_hashes(SpectacularSwaggerSplitView.template_name):
        allowed["style-src"] = hashes
    return csp_update(allowed)(view)
