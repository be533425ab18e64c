"""The periodic safety net: re-send work whose task was lost (broker down, worker killed)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from dnsproviders.executor import APPLY_TASK, POLL_TASK
from dnsproviders.models import DnsChange
from dnsproviders.rollback_checks import run_due_checks
from failover.dispatch import send_now

STALE = timedelta(seconds=15)
Status = DnsChange.Status


def sweep(*, now=None) -> dict[str, int]:
    now = now or timezone.now()
    to_apply = DnsChange.objects.filter(
        Q(status=Status.QUEUED, updated_at__lt=now - STALE)
        | Q(status=Status.SUBMITTING, lease_until__lt=now)
    ).values_list("pk", flat=True)
    to_poll = DnsChange.objects.filter(
        Q(status=Status.SUBMITTED, updated_at__lt=now - STALE)
        & (Q(last_polled_at__isnull=True) | Q(last_polled_at__lt=now - STALE))
        | Q(status=Status.INSYNC, updated_at__lt=now - STALE)
    ).values_list("pk", flat=True)
    applied = sum(send_now(APPLY_TASK, pk) for pk in to_apply)
    polled = sum(send_now(POLL_TASK, pk) for pk in to_poll)
    return {"apply": applied, "poll": polled, "rollback_checks": run_due_checks(now=now)}
