from __future__ import annotations

from django.urls import reverse
from django.views.decorators.cache import never_cache

from approvals.breakglass import open_reviews_for
from failover.web import dashboard as data
from failover.web.access import login_required, visible_service_ids
from failover.web.live import live_response, render_live
from failover.web.views.common import page


def _live_kwargs(request) -> dict:
    return {
        "element_id": "dashboard-live",
        "url": reverse("dashboard-live"),
        "template": "web/_dashboard.html",
        "context": data.dashboard(request.user, visible_service_ids(request)),
    }


@login_required
def dashboard(request):
    kwargs = _live_kwargs(request)
    return page(
        request,
        "web/dashboard.html",
        {
            "live": render_live(request, **kwargs),
            "you": kwargs["context"]["you"],
            "break_glass_reviews": open_reviews_for(request.user),
        },
        nav="dashboard",
    )


@never_cache  # a poll answered from a cache would freeze the page
@login_required
def dashboard_live(request):
    return live_response(request, **_live_kwargs(request))
