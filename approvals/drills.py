"""Scheduled drills: a policy with `drill_every_days` gets a drill opened that many days after
its last one, and the chain is asked to run it like any request (the declaration notifies them).
Nothing is approved for them: a drill rehearses people deciding.

The requester is the product's own scheduling account (a service account: never a human, so
it can never approve anything either), declaring on the policy's authority: whoever set
`drill_every_days` (an audited configuration change) asked for these drills.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Max
from django.utils import timezone

from approvals.models import Policy, ServiceAccount
from failover.errors import ServiceError
from failover.models import FailoverRequest, Service
from failover.services import declare_request
from failover.states import ACTIVE_STATES

logger = logging.getLogger(__name__)
# A name no sign-up form accepts (":" is outside Django's username characters), so no person
# can be, or be mistaken for, the scheduler.
SCHEDULER = "system:drill-schedule"


def scheduler_account() -> AbstractBaseUser:
    user, created = get_user_model().objects.get_or_create(username=SCHEDULER)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        ServiceAccount.objects.create(user=user, description="opens the drills policies schedule")
    return user


def _target_of(service: Service, policy: Policy) -> str | None:
    if policy.drill_target:
        return policy.drill_target
    names = list(
        service.targets.filter(role="failover", active=False).values_list("name", flat=True)
    )
    return names[0] if len(names) == 1 else None


def due_services(now: datetime | None = None) -> list[Service]:
    """Services whose policy schedules drills, whose last drill is `drill_every_days` old (or
    who were never drilled), with no request of theirs active."""
    now = now or timezone.now()
    policies = Policy.objects.filter(drill_every_days__isnull=False).select_related("service")
    last = dict(
        FailoverRequest.objects.filter(drill=True, service__in=[p.service_id for p in policies])
        .values("service_id")
        .annotate(at=Max("created_at"))
        .values_list("service_id", "at")
    )
    busy = set(
        FailoverRequest.objects.filter(state__in=ACTIVE_STATES).values_list("service_id", flat=True)
    )
    return [
        p.service
        for p in policies
        if p.service_id not in busy
        and (
            p.service_id not in last
            or now - last[p.service_id] >= timedelta(days=p.drill_every_days or 0)
        )
    ]


def open_due_drills(now: datetime | None = None) -> list[int]:
    """Open every due drill -> their ids. A service that cannot be drilled now (no single
    failover target, an incomplete chain, a provider that cannot be read) is logged and tried
    again on the next run; the others go on."""
    opened = []
    for service in due_services(now):
        target = _target_of(service, service.policy)
        if target is None:
            logger.warning(
                "scheduled drill of %s: name the target in its policy (drill_target)", service.slug
            )
            continue
        try:
            drill = declare_request(
                actor=scheduler_account(),
                service=service,
                target=target,
                reason=f"scheduled drill: every {service.policy.drill_every_days} days",
                channel="schedule",
                drill=True,
                scheduled=True,
            )
        except ServiceError as exc:
            logger.warning("scheduled drill of %s not opened: %s", service.slug, exc)
            continue
        opened.append(drill.pk)
    return opened
