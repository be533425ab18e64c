"""Who and how fast: seconds from a request's declaration to each role's first decision, to
quorum, to applied and to verified. The same measure for drills and real requests, so a
rehearsal's figures can be read beside an incident's (issue 17).

- a role's seconds: its first decision that counts (approval or sign-off, not voided), or a
  veto made in that role: either way the team answered;
- quorum: when the request became approved (`approved_at`); a request executed without
  passing that state (a breach, break-glass) has its execution as its quorum;
- applied: when every change of the failover was verified and the request became applied;
- verified: the last of its failover DNS changes' verifications (the provider read back the
  new values), once every one is verified.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max
from django.utils import timezone

from approvals.kinds import COUNTING_KINDS
from approvals.models import Decision
from dnsproviders.models import DnsChange
from failover.authorities import ROLE_AUTHORITY
from failover.chain import authority_chains
from failover.errors import InvalidInput
from failover.models import FailoverRequest, Service


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds(), 1)


def timings_of(
    request: FailoverRequest, decisions: Iterable[Decision], changes: Iterable[DnsChange]
) -> dict[str, Any]:
    """{"roles": {role: seconds}, "quorum", "applied", "verified"} (None: not reached) of one
    request, from its decisions and DNS changes (the API's detail has them prefetched)."""
    first: dict[str, datetime] = {}
    for d in sorted(decisions, key=lambda d: d.created_at):
        if d.role and d.voided_at is None and (d.kind in COUNTING_KINDS or d.kind == "veto"):
            first.setdefault(d.role, d.created_at)
    forward = [c for c in changes if c.direction == DnsChange.Direction.FAILOVER]
    verified = [c.verified_at for c in forward if c.verified_at is not None]
    # Executed without passing "approved" (on the last approval, under a breach, break-glass):
    # its first DNS change, written in the transaction that executed it, is its quorum.
    quorum = request.approved_at or min((c.created_at for c in forward), default=None)
    start = request.created_at
    return {
        "roles": {role: _seconds(start, at) for role, at in sorted(first.items())},
        "quorum": _seconds(start, quorum),
        "applied": _seconds(start, request.applied_at),
        "verified": _seconds(
            start, max(verified) if forward and len(verified) == len(forward) else None
        ),
    }


def timings(requests: Iterable[FailoverRequest]) -> dict[int, dict[str, Any]]:
    """`timings_of` each request, in two queries whatever their number."""
    requests = list(requests)
    ids = [r.pk for r in requests]
    decisions: dict[int, list[Decision]] = {pk: [] for pk in ids}
    for d in Decision.objects.filter(request_id__in=ids).only(
        "request_id", "role", "kind", "created_at", "voided_at"
    ):
        decisions[d.request_id].append(d)
    changes: dict[int, list[DnsChange]] = {pk: [] for pk in ids}
    for c in DnsChange.objects.filter(request_id__in=ids).only(
        "request_id", "direction", "created_at", "verified_at"
    ):
        changes[c.request_id].append(c)
    return {r.pk: timings_of(r, decisions[r.pk], changes[r.pk]) for r in requests}


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


def insight_days(raw: str | None, *, blank_is_default: bool = True) -> int:
    """The window of the insights page and API, from its query parameter. The page's form
    sends an empty field for the default; to the API, `days=` is a number missing."""
    if raw is None or (raw == "" and blank_is_default):
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
