"""Until when what anyone is shown of a request stays true with no data changing: the next
moment something turns with time alone (the request or its approvals expire, a readiness
check falls late, a signal leaves its window, a break-glass grant ends, a rollback check comes
due). The request page's memos and the API's remembered answers both stop there."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.utils import timezone

from approvals.models import BreakGlass
from approvals.policy import PREAPPROVED_THRESHOLDS, Verdict
from approvals.readiness.models import ReadinessCheck
from approvals.readiness.selectors import deadline_seconds
from approvals.selectors import rules_of
from failover.models import FailoverRequest, Signal

# Trusted at most this long even when nothing listed below comes due: a net under anything
# time-dependent not listed here.
FRESH_AT_MOST = timedelta(minutes=5)


def fresh_until(
    request: FailoverRequest,
    *,
    verdict: Verdict,
    readiness: Iterable[ReadinessCheck],
    break_glass: BreakGlass | None = None,
    now: datetime | None = None,
) -> datetime:
    """`readiness`: the latest readiness check of each kind; `break_glass`: the use that
    executes the request's plan, if any. Reads the request's rollback checks (prefetched or
    one query) and, for a service pre-approved by thresholds, its firing signals (one)."""
    now = now or timezone.now()
    moments = [
        request.expires_at,
        verdict.approvals_expire_at,
        request.rollback_proposed_at,
        request.rollback_deadline_at,
        getattr(break_glass, "expires_at", None),
        *(c.due_at for c in request.rollback_checks.all() if c.evaluated_at is None),
    ]
    if request.created_at and not any(c.identity_critical for c in readiness):
        moments.append(request.created_at + timedelta(seconds=deadline_seconds()))  # late then
    service = request.service
    if service.governance_mode == PREAPPROVED_THRESHOLDS:
        window = rules_of(service).signal_window
        firing = Signal.objects.filter(service_id=service.pk, status="firing")
        moments += [at + window for at in firing.values_list("received_at", flat=True)]
    return min([m for m in moments if m is not None and m > now] + [now + FRESH_AT_MOST])
