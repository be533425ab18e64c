"""Who and how fast: seconds from a request's declaration to each role's first decision, to
quorum, to applied and to verified. The same measure for drills and real requests, so a
rehearsal's figures can be read beside an incident's (issue 17).

- a role's seconds: its first decision that counts (approval or sign-off, not voided), or a
  veto made in that role: either way the team answered;
- quorum: when the request became approved (`approved_at`); a request executed on the last
  approval skips the approved state, so its execution is its quorum;
- applied: when every change of the failover was verified and the request became applied;
- verified: the last of its DNS changes' verifications (the provider read back the new values).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Max

from approvals.kinds import COUNTING_KINDS
from approvals.models import Decision
from audit.actions import REQUEST_STATE_CHANGED
from audit.models import AuditEvent
from dnsproviders.models import DnsChange
from failover.models import FailoverRequest, Service


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds(), 1)


def timings(requests: Iterable[FailoverRequest]) -> dict[int, dict[str, Any]]:
    """Per request id: {"roles": {role: seconds}, "quorum", "applied", "verified"} (None:
    not reached), in four queries whatever the number of requests."""
    requests = list(requests)
    ids = [r.pk for r in requests]
    first: dict[tuple[int, str], datetime] = {}
    decisions = Decision.objects.filter(request_id__in=ids, voided_at__isnull=True).exclude(role="")
    for request_id, role, kind, at in decisions.values_list(
        "request_id", "role", "kind", "created_at"
    ).order_by("created_at"):
        if kind in COUNTING_KINDS or kind == "veto":
            first.setdefault((request_id, role), at)
    verified: dict[int, datetime] = {}
    for request_id, last in (
        DnsChange.objects.filter(
            request_id__in=ids, direction="failover", verified_at__isnull=False
        )
        .values("request_id")
        .annotate(last=Max("verified_at"))
        .values_list("request_id", "last")
    ):
        verified[request_id] = last
    executed: dict[int, datetime] = {}
    events = AuditEvent.objects.filter(
        object_type=FailoverRequest._meta.label_lower,
        object_id__in=[str(pk) for pk in ids],
        action=REQUEST_STATE_CHANGED,
        data__to="executing",
    ).values_list("object_id", "created_at")
    for object_id, at in events:
        executed.setdefault(int(object_id), at)
    out = {}
    for r in requests:
        roles = {role: _seconds(r.created_at, at) for (pk, role), at in first.items() if pk == r.pk}
        quorum = r.approved_at or executed.get(r.pk)
        out[r.pk] = {
            "roles": dict(sorted(roles.items())),
            "quorum": _seconds(r.created_at, quorum),
            "applied": _seconds(r.created_at, r.applied_at),
            "verified": _seconds(r.created_at, verified.get(r.pk)),
        }
    return out


def last_drills(services: Iterable[Service]) -> dict[int, dict[str, Any] | None]:
    """Per service id: its latest drill (id, state, declared_at, finished_at, seconds), or None."""
    services = list(services)
    newest = (
        FailoverRequest.objects.filter(service__in=services, drill=True)
        .values("service_id")
        .annotate(last=Max("id"))
        .values_list("last", flat=True)
    )
    latest = {d.service_id: d for d in FailoverRequest.objects.filter(pk__in=list(newest))}
    measured = timings(latest.values())
    return {
        s.pk: (
            {
                "id": latest[s.pk].pk,
                "state": latest[s.pk].state,
                "declared_at": latest[s.pk].created_at,
                "finished_at": latest[s.pk].ended_at,
                "seconds": measured[latest[s.pk].pk],
            }
            if s.pk in latest
            else None
        )
        for s in services
    }
