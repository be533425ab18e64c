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
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max
from django.utils import timezone

from approvals.kinds import COUNTING_KINDS
from approvals.models import Decision
from audit.actions import REQUEST_STATE_CHANGED
from audit.models import AuditEvent
from dnsproviders.models import DnsChange
from failover.authorities import ROLE_AUTHORITY
from failover.chain import authority_chains
from failover.errors import InvalidInput
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


def drill_status(
    services: Iterable[Service], now: datetime | None = None, chains: dict | None = None
) -> dict[int, dict]:
    """Per service id, against its policy's `drill_window_days` (30 by default):
    {"window_days", "last_drilled_at" (the newest drill that completed), "overdue" (no drill
    completed in the window), "idle_roles": {role: [holders]} for each decision role none of
    whose holders decided anything on the service in the window (a chain that exists on paper
    only)}. A fixed number of queries."""
    services = list(services)
    now = now or timezone.now()
    windows = {
        s.pk: timedelta(days=getattr(getattr(s, "policy", None), "drill_window_days", 30) or 30)
        for s in services
    }
    oldest = now - max(windows.values(), default=timedelta(days=30))
    completed = dict(
        FailoverRequest.objects.filter(service__in=services, drill=True, state="closed")
        .values("service_id")
        .annotate(at=Max("created_at"))
        .values_list("service_id", "at")
    )
    acted: dict[int, list[tuple[str, datetime]]] = {}
    for service_id, username, at in Decision.objects.filter(
        request__service__in=services, created_at__gte=oldest
    ).values_list("request__service_id", "actor__username", "created_at"):
        acted.setdefault(service_id, []).append((username, at))
    chains = chains if chains is not None else authority_chains(services)
    out = {}
    for s in services:
        since = now - windows[s.pk]
        recent = {username for username, at in acted.get(s.pk, []) if at >= since}
        idle = {}
        for role, authority in ROLE_AUTHORITY.items():
            entry = next((e for e in chains[s.pk].entries if e.authority == authority), None)
            if entry is None or not entry.required or not entry.holders:
                continue
            if not recent.intersection(entry.holders):
                idle[role] = list(entry.holders)
        last = completed.get(s.pk)
        out[s.pk] = {
            "window_days": windows[s.pk].days,
            "last_drilled_at": last,
            "overdue": last is None or last < since,
            "idle_roles": idle,
        }
    return out


MOST = 1000  # requests per insights answer: the newest, a bounded page however long the window


def insights(services: Iterable[Service], since: datetime) -> dict[str, Any]:
    """Drills and incidents side by side since `since`: every request's seconds, and per
    service and role the median seconds to decide in drills and in incidents."""
    services = list(services)
    slugs = {s.pk: s.slug for s in services}
    requests = list(
        FailoverRequest.objects.filter(service__in=services, created_at__gte=since).order_by(
            "-created_at"
        )[:MOST]
    )
    measured = timings(requests)
    rows = [
        {
            "id": r.pk,
            "service": slugs[r.service_id],
            "drill": r.drill,
            "state": r.state,
            "declared_at": r.created_at,
            "seconds": measured[r.pk],
        }
        for r in reversed(requests)
    ]
    samples: dict[tuple[str, str, bool], list[float]] = {}
    for r in requests:
        for role, seconds in measured[r.pk]["roles"].items():
            samples.setdefault((slugs[r.service_id], role, r.drill), []).append(seconds)
    summary = []
    for service, role in sorted({(k[0], k[1]) for k in samples}):
        entry: dict[str, Any] = {"service": service, "role": role}
        for kind, drill in (("drills", True), ("incidents", False)):
            values = sorted(samples.get((service, role, drill), []))
            entry[kind] = {"count": len(values), "median": _median(values)}
        summary.append(entry)
    return {"since": since, "requests": rows, "summary": summary}


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return round((values[middle - 1] + values[middle]) / 2, 1)


DEFAULT_DAYS, MAX_DAYS = 90, 366


def insight_days(raw: str | None) -> int:
    """The window of the insights page and API, from its query parameter."""
    if raw in (None, ""):
        return DEFAULT_DAYS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise InvalidInput(
            "bad days", {"days": f"a whole number of days from 1 to {MAX_DAYS}, not {raw[:20]!r}"}
        )
    return int(raw)


def insights_for(service_ids: Iterable[int], days: int) -> dict[str, Any]:
    """What the insights page and API show: `insights` of the last `days` days, and each
    service's `drill_status`."""
    services = list(Service.objects.filter(pk__in=list(service_ids)).select_related("policy"))
    data = insights(services, timezone.now() - timedelta(days=days))
    status = drill_status(services)
    data["services"] = [
        {"service": s.slug, **status[s.pk]} for s in sorted(services, key=lambda s: s.slug)
    ]
    return data
