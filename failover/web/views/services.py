from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone

from approvals import policy as engine
from approvals.selectors import policy_of, rules_of
from approvals.timings import drill_status, last_drills
from failover.authorities import ROLE_NAMES
from failover.chain import authorities_of, authority_chain
from failover.web.access import login_required, service_or_404
from failover.web.live import live_response, render_live
from failover.web.present import chain_rows, display_names
from failover.web.runbook import runbook, runbook_markdown
from failover.web.views.common import page

RECENT_SIGNALS = 10


def _signals_kwargs(request, service) -> dict:
    now = timezone.now()
    rules = rules_of(service)
    thresholds = list(service.thresholds.all())
    signals = list(service.signals.all()[:RECENT_SIGNALS])
    breach = None
    if service.governance_mode == engine.PREAPPROVED_THRESHOLDS:
        breach = engine.find_breach(
            [engine.ThresholdFacts(t.pk, t.metric, t.comparison, t.value) for t in thresholds],
            [engine.SignalFacts(s.pk, s.metric, s.value, s.status, s.received_at) for s in signals],
            now=now,
            window=rules.signal_window,
        )
    return {
        "element_id": "signals-live",
        "url": reverse("service-signals", args=[service.slug]),
        "template": "web/_signals.html",
        "context": {
            "service": service,
            "thresholds": thresholds,
            "signals": signals,
            "breach": breach,
            "window_minutes": int(rules.signal_window.total_seconds() // 60),
        },
    }


def _records(service) -> list[dict]:
    records = service.records.select_related("provider_account").prefetch_related("values__target")
    return [
        {
            "record": r,
            "values": sorted(
                ((v.target.name, v.values, v.target.active) for v in r.values.all()),
                key=lambda item: (not item[2], item[0]),
            ),
        }
        for r in records
    ]


@login_required
def service_page(request, slug):
    service = service_or_404(request, slug)
    chain = authority_chain(service)
    names = display_names(h for e in chain.entries for h in e.holders)
    mine = authorities_of(request.user, service)
    last = last_drills([service])[service.pk]
    context = {
        "service": service,
        "policy": policy_of(service),
        "chain": chain,
        "chain_rows": chain_rows(chain, names),
        "targets": sorted(service.targets.all(), key=lambda t: (not t.active, t.name)),
        "records": _records(service),
        "signals_live": render_live(request, **_signals_kwargs(request, service)),
        "requests": service.requests.select_related("from_target", "to_target")[:10],
        "yours": [row["label"] for row in chain_rows(chain, {}) if row["authority"] in mine],
        "may_declare": "declare" in mine,
        "last_drill": last,
        "drill_roles": [
            (ROLE_NAMES.get(role, role), seconds)
            for role, seconds in (last["seconds"]["roles"].items() if last else ())
        ],
        "drill_status": drill_status([service], chains={service.pk: chain})[service.pk],
    }
    return page(request, "web/service.html", context)


@login_required
def service_signals(request, slug):
    service = service_or_404(request, slug)
    return live_response(request, **_signals_kwargs(request, service))


def _runbook(request, slug) -> dict:
    service = service_or_404(request, slug)
    chain = authority_chain(service)
    names = display_names(h for e in chain.entries for h in e.holders)
    return runbook(service, chain, names)


@login_required
def service_runbook(request, slug):
    return page(request, "web/runbook.html", {"book": _runbook(request, slug)})


@login_required
def service_runbook_markdown(request, slug):
    book = _runbook(request, slug)
    response = HttpResponse(runbook_markdown(book), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{book["service"].slug}-runbook.md"'
    return response
