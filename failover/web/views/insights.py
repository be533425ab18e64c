"""/insights/: how fast each team decides, drills beside incidents, per role and service (the
data: approvals/timings.py, the same as GET /api/v1/insights/)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from approvals.timings import insight_days, insights_for
from failover.authorities import ROLE_NAMES
from failover.errors import InvalidInput
from failover.web.access import login_required, visible_service_ids
from failover.web.charts import Point, decision_chart
from failover.web.views.common import page

WINDOWS = (30, 90, 365)


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f} min"


@login_required
def insights_page(request: HttpRequest) -> HttpResponse:
    try:
        days = insight_days(request.GET.get("days"))
    except InvalidInput as exc:
        return page(request, "web/insights.html", {"error": exc.fields["days"]}, status=400)
    data = insights_for(visible_service_ids(request), days)
    end = timezone.now()
    roles = sorted(
        {role for r in data["requests"] for role in r["seconds"]["roles"]},
        key=lambda role: list(ROLE_NAMES).index(role) if role in ROLE_NAMES else 99,
    )
    charts = []
    for role in roles:
        points = [
            Point(
                r["declared_at"],
                r["seconds"]["roles"][role],
                r["drill"],
                f"{r['service']} #{r['id']}",
            )
            for r in data["requests"]
            if role in r["seconds"]["roles"]
        ]
        name = ROLE_NAMES.get(role, role)
        rows = [
            {
                "service": s["service"],
                "drills": _minutes(s["drills"]["median"]),
                "drill_count": s["drills"]["count"],
                "incidents": _minutes(s["incidents"]["median"]),
                "incident_count": s["incidents"]["count"],
            }
            for s in data["summary"]
            if s["role"] == role
        ]
        chart = decision_chart(points, data["since"], end, f"Minutes to the {name} decision")
        charts.append({"role": name, "chart": chart, "rows": rows})
    due = [s for s in data["services"] if s["overdue"] or s["idle_roles"]]
    context = {
        "days": days,
        "windows": WINDOWS,
        "charts": charts,
        "due": [
            {
                **s,
                "idle": [
                    (ROLE_NAMES.get(role, role), holders)
                    for role, holders in s["idle_roles"].items()
                ],
            }
            for s in due
        ],
        "count": len(data["requests"]),
    }
    return page(request, "web/insights.html", context, nav="insights")
