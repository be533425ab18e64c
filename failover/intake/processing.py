"""Processing stored deliveries: events -> signals -> failover requests.

The worker takes deliveries in batches: a task claims the oldest waiting deliveries with
SELECT ... FOR UPDATE SKIP LOCKED, so two workers never take the same one, and a task
delivered twice, or re-sent by the sweeper, changes nothing the second time. A batch is one
transaction: the allow-list and grants read once, the services it fires on locked once (in
one order, so two batches cannot deadlock), and its audit events appended together at the
end. A task drains what waits, batch after batch, and the door sends one only when none is on
its way. In an alert storm that is a few round trips a delivery, not twenty (issue 18).
Whatever one delivery's bug breaks is found by processing the batch again one delivery at a
time: only that delivery is recorded as failed.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from approvals.policy import Breach, SignalFacts, ThresholdFacts, find_breach
from approvals.selectors import rules_of
from audit.actions import INTAKE_DELIVERY_PROCESSED, INTAKE_SIGNAL_REFUSED, SIGNAL_LINKED
from audit.services import appended_at_end, record_event
from failover.chain import holds
from failover.dispatch import send_now
from failover.errors import Conflict, ServiceError
from failover.intake import allowlist, tools
from failover.intake.events import FIRE, NOTE, BadPayload, Event
from failover.intake.models import Delivery, Integration
from failover.intake.services import PROCESS_TASK, audit_receipt, integration_rules, woken
from failover.models import FailoverRequest, Metric, Service, Signal
from failover.precompiled import compiled
from failover.services import declare_request, record_signal, resolve_signal
from failover.states import ACTIVE_STATES

logger = logging.getLogger(__name__)

BATCH = 50  # deliveries a transaction: the services it fires on stay locked until it commits
DRAIN_FOR = 20  # seconds a task drains (its soft time limit is CELERY_TASK_SOFT_TIME_LIMIT)
NOT_WAITING = "not waiting to be processed (already done, or no such delivery)"
Status = Delivery.Status
DATABASE_UNWELL = (OperationalError, InterfaceError)  # roll back: the sweeper re-sends


# (changed|duplicate|ignored|refused|failed, what happened, (signal id, ref) if it breaches)
Applied = tuple[str, str, tuple[int, str] | None]


@dataclass
class Result:
    status: str
    lines: list[str] = field(default_factory=list)
    breaches: list[tuple[int, str]] = field(default_factory=list)  # (signal id, incident ref)


def process_delivery(delivery_id: int) -> str:
    """This delivery alone, if it is still waiting -> what became of it."""
    done = _process(_claim_one, delivery_id)
    return _outcome(done[0]) if done else NOT_WAITING


def process_waiting(delivery_id: int) -> str:
    """The task's work: every delivery waiting when it starts, and those arriving meanwhile,
    a batch at a time, until none is waiting. The door sends a task only when none is on its
    way (services.wake): the mark stays set while this task drains, so a storm costs a task a
    drain, not one a short batch. Once nothing waits, the mark is lifted and the waiting
    looked at once more: a door that found the mark set had stored its delivery before it
    was lifted, so that look finds it; a door after it sends a task of its own. Past
    DRAIN_FOR it hands what is left to a fresh task."""
    statuses: Counter[str] = Counter()
    deadline = time.monotonic() + DRAIN_FOR
    while done := _process(_claim_oldest, delivery_id):
        statuses.update(d.status for d in done)
        if time.monotonic() > deadline:  # well inside the task's time limit
            send_now(PROCESS_TASK, delivery_id)
            break
    else:
        woken()
        while done := _process(_claim_oldest, delivery_id):
            statuses.update(d.status for d in done)
            if len(done) < BATCH:
                break
    if not statuses:
        return NOT_WAITING
    return f"{sum(statuses.values())} deliveries: " + ", ".join(
        f"{n} {status}" for status, n in sorted(statuses.items())
    )


def _outcome(delivery: Delivery) -> str:
    return f"{delivery.status}: {delivery.outcome}"


def _claim_one(delivery_id: int) -> list[Delivery]:
    """It alone, locked, if it waits. Waits for a batch holding it, and then finds it
    processed: never taken twice."""

    def build(pk: int) -> QuerySet[Delivery]:
        return _waiting().filter(pk=pk)

    return compiled("intake-claim-one", build, "pk").objects(pk=delivery_id)


def _claim_oldest(_delivery_id: int) -> list[Delivery]:
    """The oldest waiting deliveries, locked, passing over those another batch holds. Locked
    until the batch commits, they need no status of their own meanwhile."""

    def build() -> QuerySet[Delivery]:
        return _waiting(skip_locked=True).order_by("received_at", "pk")[:BATCH]

    return compiled(("intake-claim", BATCH), build).objects()


def _waiting(*, skip_locked: bool = False) -> QuerySet[Delivery]:
    return (
        Delivery.objects.filter(status=Status.RECEIVED)
        .select_related("integration__account")
        .select_for_update(skip_locked=skip_locked, of=("self",))
    )


def _process(claim: Callable[[int], list[Delivery]], delivery_id: int) -> list[Delivery]:
    """Claim and process a batch; a bug in one delivery's processing rolls the batch back,
    and then each is processed alone, so that only the broken one is recorded as failed."""
    deliveries: list[Delivery] = []
    try:
        with transaction.atomic():
            deliveries = claim(delivery_id)
            results = _apply_batch(deliveries)
    except DATABASE_UNWELL:
        raise
    except Exception:
        if claim is _claim_one:
            logger.exception("processing delivery %s failed", delivery_id)
            return _failed(delivery_id)
        logger.exception("processing a batch of deliveries failed: each again alone")
        return [alone for d in deliveries for alone in _process(_claim_one, d.pk)]
    # Declaring reads the live DNS records: outside the transaction, holding no locks.
    for delivery, result in zip(deliveries, results, strict=True):
        if result.breaches:
            _escalate_all(delivery, result)
    return deliveries


def _apply_batch(deliveries: list[Delivery]) -> list[Result]:
    if not deliveries:
        return []
    now = timezone.now()
    parsed = [_parse(d) for d in deliveries]
    batch = Batch.read(deliveries, parsed)
    with appended_at_end():
        results = [
            _audited(d, now, functools.partial(_outcome_of, d, e, batch))
            for d, e in zip(deliveries, parsed, strict=True)
        ]
    _finish(deliveries, now)
    return results


def _outcome_of(delivery: Delivery, parsed: list[Event] | Result, batch: Batch) -> Result:
    return parsed if isinstance(parsed, Result) else _apply(delivery, parsed, batch)


def _audited(delivery: Delivery, now: datetime, outcome: Callable[[], Result]) -> Result:
    """The delivery's receipt audited, then its `outcome` worked out (the events it records
    come after the receipt), kept on the delivery for `_finish`, and audited."""
    delivery.attempts += 1
    delivery.processed_at = now
    audit_receipt(delivery, delivery.integration, delivery.external_id, _bytes(delivery))
    result = outcome()
    if result.breaches:
        result.lines.append("opening a failover request …")
    delivery.status, delivery.outcome = result.status, "\n".join(result.lines)[:10000]
    record_event(
        action=INTAKE_DELIVERY_PROCESSED,
        obj=delivery,
        actor=delivery.integration.account,
        data={"integration": delivery.integration.name, "status": result.status},
    )
    return result


def _finish(deliveries: list[Delivery], now: datetime) -> None:
    """Each delivery's status and outcome, one more attempt, processed now."""
    if connection.vendor != "postgresql":
        for d in deliveries:
            Delivery.objects.filter(pk=d.pk).update(
                status=d.status, outcome=d.outcome, attempts=F("attempts") + 1, processed_at=now
            )
        return
    # One statement for the batch: bulk_update's CASE per row costs the ORM a millisecond a row.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Delivery._meta.db_table} AS d SET status = v.status, outcome = v.outcome,"
            " attempts = d.attempts + 1, processed_at = %s"
            " FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, status, outcome)"
            " WHERE d.id = v.id",
            [
                now,
                [d.pk for d in deliveries],
                [d.status for d in deliveries],
                [d.outcome for d in deliveries],
            ],
        )


def _bytes(delivery: Delivery) -> bytes:
    return delivery.body.encode()


def _failed(delivery_id: int) -> list[Delivery]:
    """A delivery whose processing raised: claimed, its receipt audited, recorded as failed,
    so that it does not go round the sweeper for ever."""
    failed = Result(Status.FAILED, ["processing error (see the worker log)"])
    with transaction.atomic():
        claimed = _claim_one(delivery_id)
        now = timezone.now()
        with appended_at_end():
            for delivery in claimed:
                _audited(delivery, now, lambda: failed)
        _finish(claimed, now)
    return claimed


def _parse(delivery: Delivery) -> list[Event] | Result:
    integration = delivery.integration
    try:
        payload = json.loads(delivery.body)
        events = tools.for_kind(integration.kind).events(payload, integration_rules(integration))
    except (ValueError, RecursionError) as exc:  # BadPayload is a ValueError
        reason = str(exc) if isinstance(exc, BadPayload) else "the body is not JSON"
        return Result(Status.FAILED, [reason])
    if not events:
        return Result(Status.IGNORED, ["no alerts in the delivery"])
    return events


@dataclass
class Batch:
    """What a batch's events read once: why each (integration, service, declaring) is refused,
    and the services they fire on, locked, with their policy and thresholds."""

    refusals: dict[tuple[int, str, bool], str | None]
    locked: dict[str, Service]

    @classmethod
    def read(cls, deliveries: list[Delivery], parsed: list) -> Batch:
        asked: dict[int, set[tuple[str, bool]]] = {}
        integrations: dict[int, Integration] = {}
        for delivery, events in zip(deliveries, parsed, strict=True):
            for event in events if isinstance(events, list) else ():
                if event.service and event.action != NOTE and not event.note:
                    integrations[delivery.integration_id] = delivery.integration
                    wanted = asked.setdefault(delivery.integration_id, set())
                    wanted.add((event.service, event.action == FIRE))
        refusals = {}
        for pk, wanted in asked.items():  # before anything is locked: a refusal touches nothing
            for (slug, declare), why in allowlist.refusals(integrations[pk], wanted).items():
                refusals[(pk, slug, declare)] = why
        firing = {slug for (_, slug, declare), why in refusals.items() if declare and not why}
        if not firing:
            return cls(refusals, {})
        # One statement, in primary key order: two batches lock their services in one order.
        locked = (
            Service.objects.select_for_update(of=("self",))
            .select_related("policy")
            .prefetch_related("thresholds")
            .filter(slug__in=firing)
            .order_by("pk")
        )
        return cls(refusals, {s.slug: s for s in locked})


def _apply(delivery: Delivery, events: list[Event], batch: Batch) -> Result:
    result = Result(Status.IGNORED)
    outcomes = []
    for event in events:
        outcome, line, breach = _apply_event(event, delivery, batch)
        outcomes.append(outcome)
        result.lines.append(f"{event.external_id or '-'}: {line}")
        if breach:
            result.breaches.append(breach)
    if "changed" in outcomes:
        result.status = Status.PROCESSED
    elif "refused" in outcomes:
        result.status = Status.REFUSED
    elif "failed" in outcomes:
        result.status = Status.FAILED
    elif all(o == "duplicate" for o in outcomes):
        result.status = Status.DUPLICATE
    return result


def _apply_event(event: Event, delivery: Delivery, batch: Batch) -> Applied:
    integration = delivery.integration
    if event.action == NOTE:
        return "ignored", event.note, None
    if event.note:
        return "failed", event.note, None
    if event.service:
        reason = batch.refusals[(integration.pk, event.service, event.action == FIRE)]
        if reason:
            _audit_refusal(delivery, event, reason)
            return "refused", reason, None
    if event.action == FIRE:
        return _fire(event, integration, batch)
    return _resolve(event, integration)


def _audit_refusal(delivery: Delivery, event: Event, reason: str) -> None:
    record_event(
        action=INTAKE_SIGNAL_REFUSED,
        obj=delivery,
        actor=delivery.integration.account,
        data={
            "integration": delivery.integration.name,
            "service": event.service,
            "action": event.action,
            "external_id": event.external_id,
            "reason": reason,
        },
    )


def _fire(event: Event, integration: Integration, batch: Batch) -> Applied:
    if not event.service:
        return "failed", "no service named", None
    service = batch.locked.get(event.service)
    if service is None:  # deleted since the allow-list was read
        return "failed", f"unknown service '{event.service}'", None
    if event.metric not in Metric.values:
        known = ", ".join(Metric.values)
        return "failed", f"unknown metric '{event.metric}' (known: {known})", None
    if event.value is None:
        return "failed", "no numeric value for the signal", None
    # The service row, locked for the batch, serialises this check with any other delivery.
    if _firing(service.pk, event.metric, event.external_id, integration.kind):
        return "duplicate", "already firing; duplicate", None
    signal = record_signal(
        service=service,
        metric=event.metric,
        value=event.value,
        source=integration.kind,
        external_id=event.external_id,
        summary=event.summary,
        actor=integration.account,
    )
    line = f"signal #{signal.pk} {service.slug} {signal.metric}={signal.value:g} recorded"
    breach = _breach(service, signal)
    if breach is None:
        return "changed", line + "; no threshold breached", None
    line += f"; breaches {breach.description}"
    return "changed", line, (signal.pk, event.incident_ref)


def _firing(service_id: int, metric: str, external_id: str, source: str) -> bool:
    """Whether this alert already fires on the service (compiled once: a storm asks it for
    every delivery)."""

    def build(service: int, metric: str, external: str, source: str) -> QuerySet[Signal]:
        return Signal.objects.filter(
            service_id=service,
            metric=metric,
            external_id=external,
            source=source,
            status=Signal.Status.FIRING,
        )

    query = compiled("intake-firing", build, "service", "metric", "external", "source", exists=True)
    return bool(query.rows(service=service_id, metric=metric, external=external_id, source=source))


def _breach(service: Service, signal: Signal) -> Breach | None:
    thresholds = [
        ThresholdFacts(t.pk, t.metric, t.comparison, t.value) for t in service.thresholds.all()
    ]
    facts = SignalFacts(signal.pk, signal.metric, signal.value, signal.status, signal.received_at)
    window = rules_of(service).signal_window
    return find_breach(thresholds, [facts], now=signal.received_at, window=window)


def _resolve(event: Event, integration: Integration) -> Applied:
    signals = Signal.objects.filter(
        external_id=event.external_id,
        source=integration.kind,
        service__in=integration.services.all(),  # only where it may feed (none without a name)
    )
    if event.service:
        signals = signals.filter(service__slug=event.service)
    if event.metric:
        signals = signals.filter(metric=event.metric)
    firing = list(
        signals.filter(status=Signal.Status.FIRING).order_by("pk").values_list("pk", flat=True)
    )
    if not firing:
        if signals.exists():
            return "duplicate", "already resolved; duplicate", None
        return "ignored", "no firing signal to resolve", None
    for pk in firing:
        resolve_signal(signal_id=pk, actor=integration.account)
    return "changed", "resolved signal " + ", ".join(f"#{pk}" for pk in firing), None


def _escalate_all(delivery: Delivery, result: Result) -> None:
    integration = delivery.integration
    result.lines[-1:] = [_escalate_safely(pk, integration, ref) for pk, ref in result.breaches]
    delivery.outcome = "\n".join(result.lines)[:10000]
    Delivery.objects.filter(pk=delivery.pk).update(outcome=delivery.outcome)


def _escalate_safely(signal_id: int, integration: Integration, incident_ref: str) -> str:
    try:
        return escalate(signal_id, integration, incident_ref)
    except Exception:
        logger.exception("opening a failover request for signal %s failed", signal_id)
        return f"no failover request for signal #{signal_id}: error (see the worker log)"


def escalate(signal_id: int, integration: Integration, incident_ref: str = "") -> str:
    """A breaching signal opens a pending failover request declared by the integration's
    account (pre-approved by the signal in preapproved_thresholds mode, needing the usual
    approvals in dual_approval mode), or is linked to the service's active request."""
    signal = Signal.objects.select_related("service").get(pk=signal_id)
    service, account = signal.service, integration.account
    if not holds(account, service, "declare"):
        return (
            f"no failover request: the integration's account '{account.username}' does not "
            f"hold the 'declare' authority on service '{service.slug}'"
        )
    # A drill under way is no incident: the alert opens a real request (which cancels it).
    active = FailoverRequest.objects.filter(
        service=service, state__in=ACTIVE_STATES, drill=False
    ).first()
    if active is not None:
        return _link(signal, active, account)
    target = _target_for(service, integration_rules(integration))
    if target is None:
        return (
            f"no failover request: service '{service.slug}' has no single inactive failover "
            "target; name one in the integration's rules (targets)"
        )
    criteria = integration_rules(integration).get("rollback_criteria")
    try:
        request = declare_request(
            actor=account,
            service=service,
            target=target,
            reason=f"{integration.kind} alert via integration '{integration.name}': "
            f"{signal.summary or signal.metric} ({signal.metric} = {signal.value:g}, "
            f"signal #{signal.pk})",
            incident_ref=incident_ref[:200],
            rollback_criteria=criteria if isinstance(criteria, dict) else None,
            channel="webhook",
            origin_signal=signal,
        )
    except Conflict as exc:
        # Another delivery declared first: link to that request instead.
        other_id = exc.extra.get("request_id")
        other = FailoverRequest.objects.filter(pk=other_id).first() if other_id else None
        if other is not None:
            return _link(signal, other, account)
        return f"no failover request: {exc.message}"
    except ServiceError as exc:
        return f"no failover request: {exc.message}"
    how = (
        "pre-approved by this signal"
        if service.governance_mode == "preapproved_thresholds"
        else "needs the usual approvals"
    )
    return f"failover request #{request.pk} to '{target}' declared ({how})"


def _link(signal: Signal, request: FailoverRequest, account: Any) -> str:
    with transaction.atomic():
        record_event(
            action=SIGNAL_LINKED,
            obj=request,
            actor=account,
            data={
                "signal": signal.pk,
                "service": signal.service.slug,
                "metric": signal.metric,
                "value": signal.value,
                "source": signal.source,
            },
        )
    return f"linked to the active failover request #{request.pk} ({request.state})"


def _target_for(service: Service, rules: Mapping) -> str | None:
    targets = rules.get("targets")
    if isinstance(targets, Mapping) and isinstance(targets.get(service.slug), str):
        return targets[service.slug]
    candidates = list(
        service.targets.filter(active=False, role="failover").values_list("name", flat=True)
    )
    return candidates[0] if len(candidates) == 1 else None
