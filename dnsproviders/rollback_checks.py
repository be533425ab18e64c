"""Scheduled rollback checks: rows with a due time, scanned by a periodic task."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.actions import ROLLBACK_CHECKED, ROLLBACK_DEADLINE_PASSED, ROLLBACK_PROPOSED
from audit.services import record_event
from dnsproviders.models import RollbackCheck
from failover.chain import authority_chain
from failover.models import Signal
from failover.rollback import DEFAULTS, evaluate_criteria
from failover.states import State

CHECK_EVERY = timedelta(minutes=5)


def run_due_checks(*, now=None) -> int:
    now = now or timezone.now()
    due = RollbackCheck.objects.filter(evaluated_at__isnull=True, due_at__lte=now)
    done = 0
    for check_id in due.values_list("pk", flat=True)[:200]:
        done += _run(check_id, now)
    return done


@transaction.atomic
def _run(check_id: int, now) -> int:
    # Claim: whoever sets evaluated_at first evaluates; a second sweeper skips it.
    if not RollbackCheck.objects.filter(pk=check_id, evaluated_at__isnull=True).update(
        evaluated_at=now
    ):
        return 0
    check = RollbackCheck.objects.select_related("request__service").get(pk=check_id)
    request = check.request
    if request.state != State.APPLIED or request.applied_at is None:
        check.result = {"met": False, "reasons": [f"request is {request.state}"]}
        check.met = False
        check.save(update_fields=["result", "met"])
        return 1
    signals = Signal.objects.filter(service=request.service)
    firing = [f"{s.metric}={s.value:g}" for s in signals.filter(status=Signal.Status.FIRING)]
    last_resolved = signals.filter(status=Signal.Status.RESOLVED).aggregate(at=Max("resolved_at"))
    healthy_since = max(filter(None, [last_resolved["at"], request.applied_at]))
    criteria = {**DEFAULTS, **request.rollback_criteria}
    result = evaluate_criteria(
        criteria, applied_at=request.applied_at, now=now, firing=firing, healthy_since=healthy_since
    )
    check.result, check.met = result, result["met"]
    check.save(update_fields=["result", "met"])
    record_event(action=ROLLBACK_CHECKED, obj=request, actor=None, data=result)
    holders = list(authority_chain(request.service).entry("rollback").holders)
    if result["met"] and request.rollback_proposed_at is None:
        request.rollback_proposed_at = now
        request.save(update_fields=["rollback_proposed_at"])
        record_event(
            action=ROLLBACK_PROPOSED,
            obj=request,
            actor=None,
            data={"notify": holders, "criteria": criteria},
        )
    if result["deadline_passed"] and request.rollback_deadline_at is None:
        request.rollback_deadline_at = now
        request.save(update_fields=["rollback_deadline_at"])
        record_event(
            action=ROLLBACK_DEADLINE_PASSED,
            obj=request,
            actor=None,
            data={"page": holders, "decide_within_minutes": criteria["decide_within_minutes"]},
        )
    RollbackCheck.objects.create(request=request, due_at=now + CHECK_EVERY)
    return 1
