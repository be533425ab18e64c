"""The worker side of a DNS change: claim, compare-and-swap, submit, poll, verify, finish.

Every step re-reads its row, so a task delivered twice, retried, or re-sent by the sweeper
after a worker died does no harm: a change is claimed by one worker at a time (conditional
update under a lease), the live records are read before anything is submitted (a change that
already landed is recognised, not sent again), and each transition is conditional on the
status it expects.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
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
from audit.services import record_event
from dnsproviders.base import PENDING, ProviderError, check_expected, matches
from dnsproviders.models import DnsChange, ProviderAccount, RollbackCheck, ZoneLock
from dnsproviders.registry import provider_for
from failover.dispatch import enqueue, send_now
from failover.errors import InvalidInput
from failover.models import FailoverRequest, Target
from failover.plans import by_zone, reversed_plan
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


def _event(change: DnsChange, action: str, **data) -> None:
    record_event(
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


def _call(change: DnsChange, call: str, fn, *args, **kwargs):
    """One provider API call, recorded as evidence whatever its outcome: what was asked,
    what came back (or the error) and how long it took."""
    started = time.monotonic()
    try:
        result = fn(*args, **kwargs)
    except ProviderError as exc:
        _event(
            change,
            DNS_PROVIDER_CALL,
            call=call,
            ok=False,
            error_code=exc.code,
            error=exc.message,
            ms=round((time.monotonic() - started) * 1000, 1),
        )
        raise
    if call == "read":
        shown = {
            f"{name} {rtype}" + (f" [{set_id}]" if set_id else ""): values
            for (name, rtype, set_id), values in result.items()
        }
    else:
        shown = result
    _event(
        change,
        DNS_PROVIDER_CALL,
        call=call,
        ok=True,
        result=shown,
        ms=round((time.monotonic() - started) * 1000, 1),
    )
    return result


def _claim(change_id: int) -> tuple[DnsChange | None, str]:
    now = timezone.now()
    with transaction.atomic():
        change = (
            DnsChange.objects.select_for_update(of=("self",))
            .select_related("provider_account")
            .filter(pk=change_id)
            .first()
        )
        if change is None:
            return None, "gone"
        if change.status not in (Status.QUEUED, Status.SUBMITTING):
            return None, change.status
        if change.status == Status.SUBMITTING and change.lease_until and change.lease_until > now:
            return None, "held"
        # One change in flight per zone until it is in sync: Route 53 answers a change to a
        # zone whose previous change is still PENDING with PriorRequestNotComplete.
        ZoneLock.objects.get_or_create(provider_account=change.provider_account, zone=change.zone)
        ZoneLock.objects.select_for_update().get(
            provider_account=change.provider_account, zone=change.zone
        )
        in_flight = (
            DnsChange.objects.filter(provider_account=change.provider_account, zone=change.zone)
            .filter(Q(status=Status.SUBMITTED) | Q(status=Status.SUBMITTING, lease_until__gt=now))
            .exclude(pk=change.pk)
        )
        if in_flight.exists():
            return None, "zone_busy"
        recovering = change.status == Status.SUBMITTING
        change.status = Status.SUBMITTING
        change.lease_until = now + timedelta(seconds=settings.DNS_CHANGE_LEASE_SECONDS)
        change.attempts += 1
        change.save(update_fields=["status", "lease_until", "attempts", "updated_at"])
    return change, "recovering" if recovering else "claimed"


# Why a change must not be submitted now, if anything: (request id, direction, plan hash).
Gate = Callable[[int, str, str], str | None]


def apply_change(change_id: int, *, gate: Gate) -> str:
    """`gate`: the governance rule asked on every delivery, right before the provider is
    called (the task hands it over, so DNS knows nothing of approvals)."""
    change, how = _claim(change_id)
    if change is None:
        if how == "zone_busy":
            send_now(APPLY_TASK, change_id, countdown=random.uniform(0.5, 1.5))
        return how
    if reason := gate(change.request_id, change.direction, change.plan_hash):
        _fail(change, "blocked", f"not submitted: {reason}")
        return "blocked"
    provider = provider_for(change.provider_account)
    try:
        live = _call(change, "read", provider.read, change.zone, change.changes)
        if matches(live, change.changes, "new"):
            # An earlier attempt landed before its worker could record it: do not send again.
            _advance(
                change,
                Status.SUBMITTING,
                Status.INSYNC,
                DNS_RECOVERED,
                insync_at=timezone.now(),
                note="records already read as planned",
            )
            return _verify(change, provider)
        check_expected(live, change.changes)
        comment = (
            f"failover-approvals #{change.request_id} {change.direction} {change.plan_hash[:12]}"
        )
        provider_change_id = _call(
            change, "submit", provider.submit, change.zone, change.changes, comment=comment
        )
    except ProviderError as exc:
        return _provider_error(change, exc)
    _advance(
        change,
        Status.SUBMITTING,
        Status.SUBMITTED,
        DNS_SUBMITTED,
        provider_change_id=provider_change_id,
        submitted_at=timezone.now(),
        records=[
            {"name": c["name"], "type": c["type"], "from": c["expected"], "to": c["new"]}
            for c in change.changes
        ],
    )
    # Synchronous providers are in sync at once; ask straight away rather than after a delay.
    return poll_change(change.pk)


def _advance(
    change: DnsChange, old: str, new: str, action: str, note: str = "", records=None, **fields
) -> bool:
    """Move a change from `old` to `new` (only if it is still `old`) and record it."""
    with transaction.atomic():
        moved = DnsChange.objects.filter(pk=change.pk, status=old).update(
            status=new, lease_until=None, updated_at=timezone.now(), **fields
        )
        data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fields.items()}
        if note:
            data["note"] = note
        if records is not None:
            data["records"] = records
        _event(change, action, status=new, recorded=bool(moved), **data)
    for key, value in {"status": new, **fields}.items():
        setattr(change, key, value)
    return bool(moved)


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
        _event(
            change,
            DNS_RETRY,
            attempt=change.attempts,
            error=exc.message,
            retry_in=round(delay, 2),
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
            _event(change, DNS_FAILED, error_code=code, error=message)
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
    try:
        status = _call(change, "status", provider.status, change.zone, change.provider_change_id)
    except ProviderError as exc:
        return _poll_error(change, exc)
    now = timezone.now()
    DnsChange.objects.filter(pk=change.pk).update(last_polled_at=now)
    if status == PENDING:
        if change.submitted_at and now - change.submitted_at > POLL_DEADLINE:
            _fail(change, "not_insync", "the provider did not report INSYNC within 30 minutes")
            return "failed"
        send_now(POLL_TASK, change.pk, countdown=_poll_delay(change, now))
        return "pending"
    _advance(change, Status.SUBMITTED, Status.INSYNC, DNS_INSYNC, insync_at=now)
    return _verify(change, provider)


def _poll_error(change: DnsChange, exc: ProviderError) -> str:
    """A failed status or read-back call: fatal if permanent, else asked again shortly."""
    if exc.permanent:
        _fail(change, exc.code, exc.message)
        return "failed"
    send_now(POLL_TASK, change.pk, countdown=_backoff(2))
    return "retry"


def _verify(change: DnsChange, provider) -> str:
    try:
        live = _call(change, "read", provider.read, change.zone, change.changes)
    except ProviderError as exc:
        return _poll_error(change, exc)
    if not matches(live, change.changes, "new"):
        found = "; ".join(
            f"{k[0]} {k[1]} reads {', '.join(v) or 'nothing'}" for k, v in live.items()
        )
        _fail(change, "verify_failed", f"verification failed: {found}")
        return "failed"
    _advance(change, Status.INSYNC, Status.VERIFIED, DNS_VERIFIED, verified_at=timezone.now())
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
