from __future__ import annotations

from django.shortcuts import render

from failover.web.access import declarable_service_ids


def page(request, template: str, context: dict, *, nav: str = "", status: int = 200):
    """Render a full page with what the layout needs (navigation)."""
    context = {
        "nav": nav,
        "can_declare": bool(declarable_service_ids(request)),
        **context,
    }
    return render(request, template, context, status=status)
