"""The worker side of a DNS change: claim, compare-and-swap, submit, poll, verify, finish.

Every step re-reads its row, so a task delivered twice, retried, or re-sent by the sweeper
after a worker died does no harm: a change is claimed by one worker at a time (conditional
update under a lease), and each transition is conditional on the status it expects. A change's
first attempt submits at once, the provider's atomic swap being the compare (DELETE(expected) +
CREATE(new), or the server's prerequisites, or the zone file's check under its lock); a refusal
is read to tell a change already in place from drift. Every later attempt (an earlier one may
have landed unheard) reads first, so a change that already landed is recognised, not sent again.
Each step's evidence (the provider call and the transition it led to) is one audit append.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Exists, Q, QuerySet
from django.utils import timezone

from audit.actions import (
    DNS_FAILED,
    DNS_INSYNC,
    DNS_PROVIDER_CALL,
    DNS_RECOVERED,
    DNS_RETRY,
    DNS_SUBMITTED,
    DNS_VERIFIED,
    TARGET_ACTIVATED,
)
from audit.services import Event, record_event, record_events
from dnsproviders.base import (
    PENDING,
    DriftError,
    Provider,
    ProviderError,
    check_expected,
    matches,
    shown,
)
from dnsproviders.models import DnsChange, ProviderAccount, RollbackCheck, ZoneLock
from dnsproviders.registry import provider_for
from failover.dispatch import enqueue, send_now
from failover.errors import InvalidInput
from failover.models import FailoverRequest, Target
from failover.plans import by_zone, reversed_plan
from failover.precompiled import compiled
from failover.services import lock_request, transition
from failover.states import State

logger = logging.getLogger(__name__)
Status = DnsChange.Status

APPLY_TASK = "dnsproviders.tasks.apply_change"
POLL_TASK = "dnsproviders.tasks.poll_change"
MAX_ATTEMPTS = 8
POLL_EVERY = 2.0
POLL_DEADLINE = timedelta(minutes=30)
FIRST_STATE = {"failover": State.EXECUTING, "rollback": State.ROLLING_BACK}
DONE_STATE = {"failover": State.APPLIED, "rollback": State.ROLLED_BACK}


def write_changes(request: FailoverRequest, plan: dict, direction: str) -> list[DnsChange]:
    """The DnsChange rows (the outbox) of `plan`, one per provider account and zone, in the
    caller's transaction; the worker is enqueued when it commits."""
    accounts = {
        a.name: a
        for a in ProviderAccount.objects.filter(
            name__in={c["provider_account"] for c in plan["changes"]}
        )
    }
    changes = []
    for (account_name, zone), zone_changes in sorted(by_zone(plan["changes"]).items()):
        if account_name not in accounts:
            raise InvalidInput(f"provider account {account_name!r} no longer exists; re-plan")
        changes.append(
            DnsChange.objects.create(
                request=request,
                direction=direction,
                provider_account=accounts[account_name],
                zone=zone,
                changes=zone_changes,
                plan_hash=request.plan_hash,
            )
        )
    for change in changes:
        enqueue(APPLY_TASK, change.pk)
    return changes


def _poll_delay(change: DnsChange, now) -> float:
    """Poll soon after submitting, then back off to every POLL_EVERY seconds."""
    waited = (now - change.submitted_at).total_seconds() if change.submitted_at else 0.0
    return min(POLL_EVERY, max(0.25, waited / 4))


def _backoff(attempts: int) -> float:
    return random.uniform(0.5, 1.0) * min(10.0, 0.5 * 2**attempts)


def _event(change: DnsChange, action: str, **data: Any) -> Event:
    return Event(
        action=action,
        obj=change,
        actor=None,
        data={
            "request": change.request_id,
            "direction": change.direction,
            "provider": change.provider_account.name,
            "kind": change.provider_account.kind,
            "zone": change.zone,
            **data,
        },
    )


def _call(
    change: DnsChange,
    provider: Provider,
    call: str,
    *args: Any,
    pending: list[Event],
    **kwargs: Any,
) -> Any:
    """One provider API call, evidence whatever its outcome: what was asked, what came back
    (or the error) and how long it took, with any calls the adapter made inside it. The
    events go to `pending`, appended with what the call leads to (a transition, a retry)."""
    started = time.monotonic()

    def evidence(**outcome: Any) -> None:
        pending.extend(_journal(change, provider))
        ms = round((time.monotonic() - started) * 1000, 1)
        pending.append(_event(change, DNS_PROVIDER_CALL, call=call, **outcome, ms=ms))

    try:
        result = getattr(provider, call)(*args, **kwargs)
    except ProviderError as exc:
        evidence(ok=False, error_code=exc.code, error=exc.message)
        raise
    evidence(ok=True, result=shown(result) if call == "read" else result)
    return result


def _journal(change: DnsChange, provider: Provider) -> list[Event]:
    calls, provider.journal[:] = list(provider.journal), []
    return [_event(change, DNS_PROVIDER_CALL, within=True, **call) for call in calls]


def _record(pending: list[Event]) -> None:
    """Append what is pending (and forget it, so nothing is appended twice)."""
    if pending:
        with transaction.atomic():
            record_events(pending)
        pending.clear()


def _claim(change_id: int) -> tuple[DnsChange | None, str]:
    """Lease the change to this worker: four statements on the path to every failover (the
    change's row and its zone's lock, then the lease taken only while nothing else of the zone
    is in flight), the reads written once per process."""
    now = timezone.now()
    with transaction.atomic():
        found = _CLAIM_CHANGE().objects(pk=change_id)
        if not found:
            return None, "gone"
        change = found[0]
        if change.status not in (Status.QUEUED, Status.SUBMITTING):
            return None, change.status
        if change.status == Status.SUBMITTING and change.lease_until and change.lease_until > now:
            return None, "held"
        # One change in flight per zone until it is in sync: Route 53 answers a change to a
        # zone whose previous change is still PENDING with PriorRequestNotComplete.
        zone = {"account": change.provider_account_id, "zone": change.zone}
        lock = _CLAIM_ZONE()
        if not lock.rows(**zone):  # the zone's first change
            ZoneLock.objects.get_or_create(
                provider_account_id=change.provider_account_id, zone=change.zone
            )
            lock.rows(**zone)
        # A statement of its own, after the lock: its snapshot sees what the last holder
        # committed (a subquery of the locking statement would not).
        in_flight = (
            DnsChange.objects.filter(provider_account=change.provider_account, zone=change.zone)
            .filter(Q(status=Status.SUBMITTED) | Q(status=Status.SUBMITTING, lease_until__gt=now))
            .exclude(pk=change.pk)
        )
        recovering = change.status == Status.SUBMITTING
        change.status = Status.SUBMITTING
        change.lease_until = now + timedelta(seconds=settings.DNS_CHANGE_LEASE_SECONDS)
        change.attempts += 1
        change.updated_at = now
        claimed = (
            DnsChange.objects.filter(pk=change.pk)
            .filter(~Exists(in_flight))
            .update(
                status=change.status,
                lease_until=change.lease_until,
                attempts=change.attempts,
                updated_at=now,
            )
        )
        if not claimed:
            return None, "zone_busy"
    return change, "recovering" if recovering else "claimed"


def _change_row(pk: int) -> QuerySet[DnsChange]:
    return (
        DnsChange.objects.select_for_update(of=("self",))
        .select_related("provider_account")
        .filter(pk=pk)
    )


def _zone_lock(account: int, zone: str) -> QuerySet:
    return (
        ZoneLock.objects.select_for_update()
        .filter(provider_account_id=account, zone=zone)
        .values_list("pk")
    )


# The worker's reads on the path to every failover, written once per process (and by `warm`).
_CLAIM_CHANGE = partial(compiled, "claim-change", _change_row, "pk")
_CLAIM_ZONE = partial(compiled, "claim-zone", _zone_lock, "account", "zone")


# Why a change must not be submitted now, if anything: (request id, direction, plan hash).
Gate = Callable[[int, str, str], str | None]


_helpers: ThreadPoolExecutor | None = None


def _helper_pool() -> ThreadPoolExecutor:
    global _helpers
    if _helpers is None:
        _helpers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dns-gate")
    return _helpers


def _gate_beside(change_id: int, gate: Gate) -> Future:
    """Ask the gate on a helper thread (a database connection of its own) while this one
    claims: both are round trips to the database, the gate the longer. Its answer is still
    awaited before anything is sent."""

    def ask() -> str | None:
        close_old_connections()  # as at the start of any task: expired or broken, reconnect
        found = _GATE_CHANGE().rows(pk=change_id)
        return gate(*found[0]) if found else "the change is gone"

    return _helper_pool().submit(ask)


def _gate_row(pk: int) -> QuerySet:
    return DnsChange.objects.filter(pk=pk).values_list("request_id", "direction", "plan_hash")


_GATE_CHANGE = partial(compiled, "gate-change", _gate_row, "pk")


def warm(gate: Callable[[], None]) -> None:
    """What a worker's first failover would otherwise pay for, done when the worker starts:
    the claim's queries written, `gate` (the rule's own warm-up) run on the helper thread the
    first gate is asked on, whose connection it leaves open, and each provider warmed (its
    client built, its connection opened)."""
    with transaction.atomic():  # where the ORM writes a locking query
        _CLAIM_CHANGE(), _CLAIM_ZONE()
    _GATE_CHANGE()

    def warm_gate() -> None:
        close_old_connections()
        gate()

    _helper_pool().submit(warm_gate).result()
    warm_providers()  # last: it waits on the providers (one read each)


def apply_change(change_id: int, *, gate: Gate, overlap: bool = False) -> str:
    """`gate`: the governance rule asked on every delivery, right before the provider is
    called (the task hands it over, so DNS knows nothing of approvals). `overlap`: ask it
    beside the claim (a worker's own transaction, not a caller's, which another connection
    could not see)."""
    answer = _gate_beside(change_id, gate) if overlap else None
    change, how = _claim(change_id)
    if change is None:
        if how == "zone_busy":
            send_now(APPLY_TASK, change_id, countdown=random.uniform(0.5, 1.5))
        return how
    if answer is not None:
        reason = answer.result()
    else:
        reason = gate(change.request_id, change.direction, change.plan_hash)
    if reason:
        _fail(change, "blocked", f"not submitted: {reason}")
        return "blocked"
    provider = provider_for(change.provider_account)
    # Only the first claim of a change can be sure nothing of it reached the provider.
    first = how == "claimed" and change.attempts == 1
    pending: list[Event] = []
    try:
        if not first and _in_place(change, provider, pending):
            return _recovered(change, provider, pending)
        comment = (
            f"failover-approvals #{change.request_id} {change.direction} {change.plan_hash[:12]}"
        )
        try:
            provider_change_id = _call(
                change,
                provider,
                "submit",
                change.zone,
                change.changes,
                comment=comment,
                pending=pending,
            )
        except DriftError:
            # The swap was refused: records already as planned are not drift.
            if first and _in_place(change, provider, pending):
                return _recovered(change, provider, pending)
            raise
    except ProviderError as exc:
        _record(pending)
        return _provider_error(change, exc)
    return _submitted(change, provider, provider_change_id, pending)


def _submitted(
    change: DnsChange, provider: Provider, provider_change_id: str, pending: list[Event]
) -> str:
    """Ask for the status at once (a synchronous provider is in sync already), then record the
    submission and what the status said in one append. A worker dying before that is as one
    dying before it heard the submit's answer: the next attempt reads first."""
    submitted_at = timezone.now()
    polled: list[Event] = []
    try:
        status = _call(change, provider, "status", change.zone, provider_change_id, pending=polled)
    except ProviderError as exc:
        status = None
        error = exc
    now = timezone.now()
    insync = status not in (None, PENDING)
    fields = {"provider_change_id": provider_change_id, "submitted_at": submitted_at}
    if status is not None:
        fields["last_polled_at"] = now
    if insync:
        fields["insync_at"] = now
    with transaction.atomic():
        moved = DnsChange.objects.filter(pk=change.pk, status=Status.SUBMITTING).update(
            status=Status.INSYNC if insync else Status.SUBMITTED,
            lease_until=None,
            updated_at=now,
            **fields,
        )
        events = [
            *pending,
            _event(
                change,
                DNS_SUBMITTED,
                status=Status.SUBMITTED,
                recorded=bool(moved),
                provider_change_id=provider_change_id,
                submitted_at=submitted_at.isoformat(),
                records=[
                    {"name": c["name"], "type": c["type"], "from": c["expected"], "to": c["new"]}
                    for c in change.changes
                ],
            ),
            *polled,
        ]
        if insync:
            events.append(
                _event(
                    change,
                    DNS_INSYNC,
                    status=Status.INSYNC,
                    recorded=bool(moved),
                    insync_at=now.isoformat(),
                )
            )
        record_events(events)
    if not moved:  # another attempt took it over (this one's lease ran out): that one goes on
        return "taken_over"
    change.status = Status.INSYNC if insync else Status.SUBMITTED
    for key, value in fields.items():
        setattr(change, key, value)
    if status is None:
        return _poll_error(change, error)
    if not insync:
        return _pending(change, now)
    return _verify(change, provider)


def _in_place(change: DnsChange, provider: Provider, pending: list) -> bool:
    """Read the live records: True if they already read as planned; DriftError if they read
    neither as planned nor as expected (nothing is sent then)."""
    live = _call(change, provider, "read", change.zone, change.changes, pending=pending)
    if matches(live, change.changes, "new"):
        return True
    check_expected(live, change.changes)
    return False


def _recovered(change: DnsChange, provider: Provider, pending: list) -> str:
    # An earlier attempt landed before its worker could record it: do not send again.
    _advance(
        change,
        Status.SUBMITTING,
        Status.INSYNC,
        DNS_RECOVERED,
        before=pending,
        insync_at=timezone.now(),
        note="records already read as planned",
    )
    return _verify(change, provider)


def _advance(
    change: DnsChange,
    old: str,
    new: str,
    action: str,
    note: str = "",
    records: list[dict] | None = None,
    before: list[Event] | None = None,
    **fields: Any,
) -> bool:
    """Move a change from `old` to `new` (only if it is still `old`) and record it, after the
    events `before` (the call that led here), in one append."""
    with transaction.atomic():
        moved = DnsChange.objects.filter(pk=change.pk, status=old).update(
            status=new, lease_until=None, updated_at=timezone.now(), **fields
        )
        data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fields.items()}
        if note:
            data["note"] = note
        if records is not None:
            data["records"] = records
        record_events(
            [*(before or ()), _event(change, action, status=new, recorded=bool(moved), **data)]
        )
    if before:
        before.clear()
    for key, value in {"status": new, **fields}.items():
        setattr(change, key, value)
    return bool(moved)


def warm_providers() -> None:
    for account in ProviderAccount.objects.all():
        try:
            provider_for(account).warm()
        except ProviderError:  # an unknown kind or a bad directory: its own changes will say
            continue


def _provider_error(change: DnsChange, exc: ProviderError) -> str:
    if exc.permanent:
        _fail(change, exc.code, exc.message)
        return "failed"
    if change.attempts >= MAX_ATTEMPTS:
        _fail(change, exc.code, f"gave up after {change.attempts} attempts: {exc.message}")
        return "failed"
    delay = _backoff(change.attempts)
    with transaction.atomic():
        DnsChange.objects.filter(pk=change.pk, status=Status.SUBMITTING).update(
            status=Status.QUEUED,
            lease_until=None,
            error=exc.message,
            error_code=exc.code,
            updated_at=timezone.now(),
        )
        record_events(
            [
                _event(
                    change,
                    DNS_RETRY,
                    attempt=change.attempts,
                    error=exc.message,
                    retry_in=round(delay, 2),
                )
            ]
        )
    send_now(APPLY_TASK, change.pk, countdown=delay)
    return "retry"


def _fail(change: DnsChange, code: str, message: str) -> None:
    with transaction.atomic():
        moved = (
            DnsChange.objects.filter(pk=change.pk)
            .exclude(status__in=(Status.VERIFIED, Status.FAILED))
            .update(
                status=Status.FAILED,
                error=message,
                error_code=code,
                failed_at=timezone.now(),
                lease_until=None,
                updated_at=timezone.now(),
            )
        )
        if moved:
            record_events([_event(change, DNS_FAILED, error_code=code, error=message)])
    finish(change.request_id, change.direction)


def poll_change(change_id: int) -> str:
    change = DnsChange.objects.select_related("provider_account").filter(pk=change_id).first()
    if change is None:
        return "gone"
    provider = provider_for(change.provider_account)
    if change.status == Status.INSYNC:
        return _verify(change, provider)
    if change.status != Status.SUBMITTED:
        return change.status
    return _poll(change, provider)


def _poll(change: DnsChange, provider: Provider) -> str:
    pending: list[Event] = []
    try:
        status = _call(
            change, provider, "status", change.zone, change.provider_change_id, pending=pending
        )
    except ProviderError as exc:
        _record(pending)
        return _poll_error(change, exc)
    now = timezone.now()
    if status == PENDING:
        with transaction.atomic():
            DnsChange.objects.filter(pk=change.pk).update(last_polled_at=now)
            _record(pending)
        return _pending(change, now)
    _advance(
        change,
        Status.SUBMITTED,
        Status.INSYNC,
        DNS_INSYNC,
        before=pending,
        insync_at=now,
        last_polled_at=now,
    )
    return _verify(change, provider)


def _pending(change: DnsChange, now: datetime) -> str:
    if change.submitted_at and now - change.submitted_at > POLL_DEADLINE:
        _fail(change, "not_insync", "the provider did not report INSYNC within 30 minutes")
        return "failed"
    send_now(POLL_TASK, change.pk, countdown=_poll_delay(change, now))
    return "pending"


def _poll_error(change: DnsChange, exc: ProviderError) -> str:
    """A failed status or read-back call: fatal if permanent, else asked again shortly."""
    if exc.permanent:
        _fail(change, exc.code, exc.message)
        return "failed"
    send_now(POLL_TASK, change.pk, countdown=_backoff(2))
    return "retry"


def _verify(change: DnsChange, provider: Provider) -> str:
    pending: list[Event] = []
    try:
        live = _call(change, provider, "read", change.zone, change.changes, pending=pending)
    except ProviderError as exc:
        _record(pending)
        return _poll_error(change, exc)
    if not matches(live, change.changes, "new"):
        found = "; ".join(
            f"{k[0]} {k[1]} reads {', '.join(v) or 'nothing'}" for k, v in live.items()
        )
        _record(pending)
        _fail(change, "verify_failed", f"verification failed: {found}")
        return "failed"
    _advance(
        change,
        Status.INSYNC,
        Status.VERIFIED,
        DNS_VERIFIED,
        before=pending,
        verified_at=timezone.now(),
    )
    finish(change.request_id, change.direction)
    return "verified"


@transaction.atomic
def finish(request_id: int, direction: str) -> None:
    """Settle the request once every change of this direction has an outcome."""
    request = lock_request(request_id)
    if request.state != FIRST_STATE[direction]:
        return
    changes = list(request.changes.filter(direction=direction))
    failed = [c for c in changes if c.status == Status.FAILED]
    if failed:
        reasons = "; ".join(f"{c.zone}: {c.error}" for c in failed)
        transition(
            request,
            State.FAILED,
            actor=None,
            reason=reasons,
            data={"applied": [c.pk for c in changes if c.status == Status.VERIFIED]},
        )
        return
    if any(c.status != Status.VERIFIED for c in changes):
        return
    transition(
        request,
        DONE_STATE[direction],
        actor=None,
        reason="every change verified",
        data={"provider_change_ids": [c.provider_change_id for c in changes]},
    )
    now = timezone.now()
    if request.drill:
        _settle_drill(request, direction, now)
        return
    if direction == "failover":
        request.applied_at = now
        request.save(update_fields=["applied_at"])
        due = now + timedelta(minutes=request.rollback_criteria.get("min_minutes_on_target", 30))
        RollbackCheck.objects.create(request=request, due_at=due)
    if not request.segment:  # a segment-scoped move leaves the service's active target alone
        new, old = (
            (request.to_target, request.from_target)
            if direction == "failover"
            else (request.from_target, request.to_target)
        )
        Target.objects.filter(pk=old.pk).update(active=False)
        Target.objects.filter(pk=new.pk).update(active=True)
        record_event(
            action=TARGET_ACTIVATED,
            obj=new,
            actor=None,
            data={
                "service": request.service.slug,
                "target": new.name,
                "previous": old.name,
                "request": request.pk,
            },
        )


def _settle_drill(request: FailoverRequest, direction: str, now: datetime) -> None:
    """A drill moved only its drill records, so no target becomes active and no rollback
    check is due: verified, it puts them back at once (same machinery, reverse plan), and
    once they are back it is over."""
    if direction == "failover":
        request.applied_at = now
        request.save(update_fields=["applied_at"])
        changes = write_changes(request, reversed_plan(request.plan), DnsChange.Direction.ROLLBACK)
        transition(
            request,
            State.ROLLING_BACK,
            actor=None,
            reason="drill verified: putting the drill records back",
            data={"changes": [c.pk for c in changes], "drill": True},
        )
        return
    transition(
        request,
        State.CLOSED,
        actor=None,
        reason="drill complete: the drill records are back as they were",
        data={"drill": True},
    )
