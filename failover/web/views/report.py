"""The post-incident report of a request: a printable page and its Markdown and JSON
downloads. Readable by whoever may read the request page (any authority on the service) and
by auditors."""

from __future__ import annotations

import json

from django.http import HttpResponse

from failover.report.evidence import build_report
from failover.report.frameworks import STATUS_WORDS
from failover.report.markdown import LINE_LABELS, MARKS, as_json, render, verdict_line
from failover.web.access import login_required, report_or_404
from failover.web.views.common import page


def _download(body: str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def report_page(request, pk: int):
    obj = report_or_404(request, pk)
    report = build_report(obj)
    controls = [
        {**c, "mark": MARKS[c["status"]], "label": LINE_LABELS[c["status"]]}
        for c in report["frameworks"]["controls"]
    ]
    context = {
        "r": obj,
        "report": report,
        "verdict": verdict_line(report["verification"]),
        "controls": controls,
        "counts": [(STATUS_WORDS[s], n) for s, n in report["frameworks"]["summary"].items()],
        "timeline": [
            {**e, "data_json": json.dumps(e["data"], indent=1, ensure_ascii=False, sort_keys=True)}
            for e in report["timeline"]
        ],
    }
    return page(request, "web/report.html", context)


@login_required
def report_markdown(request, pk: int):
    obj = report_or_404(request, pk)
    return _download(render(build_report(obj)), "text/markdown", f"failover-{obj.pk}-report.md")


@login_required
def report_json(request, pk: int):
    obj = report_or_404(request, pk)
    return _download(
        as_json(build_report(obj)), "application/json", f"failover-{obj.pk}-report.json"
    )
