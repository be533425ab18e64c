"""Failover requests as the API presents them: a page of them, or one assembled after its
data fingerprint was read (approvals/fingerprints.py), which the answer is then remembered
under (failover/api/presented.py).

One request is assembled from queries written once per process (failover/precompiled.py),
and only those the fingerprint says have rows: a pending request has no DNS changes,
rollback checks or break-glass use to read. The registry drift is remembered under the
registry's contents as the fingerprint read them (failover/known_drift.py). Everything is read
after the fingerprint, so a change landing meanwhile leaves the answer under a fingerprint no
later read matches.

A decision's answer is the request as the decision left it (`decided`): the row, decisions and
verdict its transaction read and computed under the request's lock, not read again. It is
remembered for readers only when the fingerprint facts read before the decision read anything
and again before its commit differ in nothing but what the decision itself moved (a grant
removed by someone else meanwhile would leave that verdict under a fingerprint already past
it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from django.db.models import Prefetch, QuerySet
from rest_framework import exceptions

from approvals.fingerprints import (
    counted,
    fingerprint_of,
    moved_only_by_a_decision,
    registry_key,
)
from approvals.freshness import fresh_until
from approvals.gate import answers_for, break_glass_of, may_go_out
from approvals.readiness.selectors import latest_checks_by_request
from approvals.selectors import WITH_DECIDERS, decisions_with_deciders, verdicts_for
from approvals.services import Decided
from dnsproviders.models import DnsChange, RollbackCheck
from failover.api import serializers as s
from failover.known_drift import drift_known
from failover.models import FailoverRequest
from failover.precompiled import compiled, keep_prefetched
from failover.states import State

CHANGES = DnsChange.objects.select_related("provider_account")
ROW = FailoverRequest.objects.select_related(
    "service__policy", "from_target", "to_target", "requester"
)


def presentable() -> QuerySet[FailoverRequest]:
    """Requests with what presenting a page of them reads, in a fixed number of queries."""
    return ROW.prefetch_related(
        Prefetch("decisions", WITH_DECIDERS),
        Prefetch("changes", CHANGES),
        "rollback_checks",
    )


def present(
    requests: Iterable[Any],
    verdicts: dict | None = None,
    checks: dict | None = None,
    gates: dict | None = None,
) -> list[dict]:
    requests = list(requests)
    if checks is None:
        checks = latest_checks_by_request(r.pk for r in requests)
    verdicts = verdicts or verdicts_for(requests, readiness=checks)
    gates = gates or answers_for(requests, verdicts)
    for r in requests:
        r.verdict, r.gate = verdicts[r.pk], gates[r.pk]
        r.latest_readiness = list(checks.get(r.pk, {}).values())
    return cast(list[dict], s.bound(s.FailoverRequestOut).to_representation(requests))


def true_until(obj: Any) -> datetime:
    """Until when a request `present`ed stays true if no data changes."""
    return fresh_until(
        obj, verdict=obj.verdict, readiness=obj.latest_readiness, break_glass=obj.gate.break_glass
    )


def assembled(pk: int, seen: tuple) -> tuple[dict, datetime]:
    """Request `pk` as presented now, read after `seen` (its `request_facts`), and until when
    that stays true with no data change. The caller checked the reader may see it."""
    found = compiled("request-row", lambda pk: ROW.filter(pk=pk), "pk").objects(pk=pk)
    if not found:
        raise exceptions.NotFound()
    obj = found[0]
    keep_prefetched(obj, "decisions", decisions_with_deciders(pk))
    for name, rows in (("changes", _changes), ("rollback_checks", _rollback_checks)):
        keep_prefetched(obj, name, rows(pk) if counted(seen, name) else [])
    checks = latest_checks_by_request([pk])
    verdict = verdicts_for([obj], readiness=checks)[pk]
    return _gated(obj, verdict, checks, seen), true_until(obj)


def decided(outcome: Decided) -> tuple[dict, str | None, datetime] | None:
    """The request as `outcome`'s decision left it, from what the decision read under its lock
    and the verdict it computed there (None when the request closed: no verdict to reuse),
    the fingerprint it is true under, and until when. Read here: whether a break-glass use
    exists and the registry as it is now (the drift), and the DNS changes of a request the
    decision executed.

    None unless the decision watched its request (`decide(watched_from=...)`). The
    fingerprint is None unless nothing but the decision moved from before its first read to
    just before its commit: then what it read is what the facts it left describe, and the
    answer may be remembered under them. Whatever commits after it moves the fingerprint
    readers compute, so such an entry is read only while the request is as the decision left
    it: no read after the commit needed."""
    obj, verdict = outcome.request, outcome.verdict
    if verdict is None or outcome.watched is None:
        return None
    before, facts = outcome.watched
    if facts is None:
        return None
    # The decision's transaction left it open or executing: no rollback has been checked, and
    # only an execution it started made changes.
    executing = obj.state == State.EXECUTING
    keep_prefetched(obj, "changes", _changes(obj.pk) if executing else [])
    keep_prefetched(obj, "rollback_checks", [])
    checks = None if outcome.readiness is None else {obj.pk: outcome.readiness}
    still = moved_only_by_a_decision(before, facts)
    answer = _gated(obj, verdict, checks, facts)
    return answer, fingerprint_of(facts) if still else None, true_until(obj)


def _gated(obj: FailoverRequest, verdict: Any, checks: dict | None, seen: tuple) -> dict:
    """`obj` presented with its gate: its break-glass use read only where `seen` (its
    fingerprint's facts) counts one, its drift remembered under the registry `seen` read."""
    use = break_glass_of(obj) if counted(seen, "break_glass") else None
    drift = drift_known(obj, registry_key(seen))
    gate = may_go_out(obj, verdict=verdict, known={"break_glass": use, "drift": drift})
    return present([obj], {obj.pk: verdict}, checks, {obj.pk: gate})[0]


def _changes(pk: int) -> list:
    return compiled("request-changes", lambda pk: CHANGES.filter(request_id=pk), "pk").objects(
        pk=pk
    )


def _rollback_checks(pk: int) -> list:
    query = compiled(
        "request-rollback-checks", lambda pk: RollbackCheck.objects.filter(request_id=pk), "pk"
    )
    return query.objects(pk=pk)
