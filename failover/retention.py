"""Retention: forget what is only kept for a while, in one audited run.

- A webhook delivery's raw body (up to 1 MiB) is emptied DELIVERY_BODY_RETENTION_DAYS after it
  was received, once its processing has ended; the row, its headers and its outcome stay, and
  the outcome says the body was purged. The body's SHA-256 is already in the delivery's
  `intake.delivery_received` audit event, so nothing is lost that the evidence relies on.
- An Idempotency-Key record is deleted IDEMPOTENCY_RETENTION_HOURS after it was created: a
  retry with the same key after that is a new request.
- The audit log itself is never pruned here (archiving it is export + checkpoint).

Each run is one transaction ending with one `retention.purged` event. Rows are selected by
primary key in batches, never loaded whole, and a run stops after RUN_LIMIT rows of each kind
so a first run over a years-old backlog fits in a worker's time limit; the next run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, TextField, Value
from django.db.models.functions import Concat
from django.utils import timezone

from approvals.models import IdempotencyKey
from audit.actions import RETENTION_PURGED
from audit.services import record_event
from failover.intake.models import Delivery

BATCH = 1000
RUN_LIMIT = 50_000
# Every status but `received` (still waiting for its task): its body is the work to do.
FINISHED = [s for s in Delivery.Status.values if s != Delivery.Status.RECEIVED]


@dataclass(frozen=True)
class Purged:
    bodies: int
    idempotency_keys: int
    body_cutoff: datetime
    idempotency_cutoff: datetime
    more: bool  # RUN_LIMIT was reached: rows past a window are left for the next run
    dry_run: bool = False


def purge(
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    batch: int = BATCH,
    limit: int = RUN_LIMIT,
) -> Purged:
    now = now or timezone.now()
    body_cutoff = now - timedelta(days=settings.DELIVERY_BODY_RETENTION_DAYS)
    key_cutoff = now - timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS)
    bodies = _expired_bodies(body_cutoff)
    keys = IdempotencyKey.objects.filter(created_at__lt=key_cutoff)
    if dry_run:
        return Purged(bodies.count(), keys.count(), body_cutoff, key_cutoff, False, True)
    with transaction.atomic():
        purged = _in_batches(bodies, batch, limit, lambda qs: _empty_bodies(qs, now))
        deleted = _in_batches(keys, batch, limit, lambda qs: qs.delete()[0])
        more = bodies.exists() or keys.exists()
        # Last, so the audit chain head is locked only for the end of the transaction.
        record_event(
            action=RETENTION_PURGED,
            object_type="retention",
            actor=None,
            data={
                "delivery_bodies": purged,
                "idempotency_keys": deleted,
                "delivery_body_cutoff": body_cutoff.isoformat(),
                "idempotency_cutoff": key_cutoff.isoformat(),
                "delivery_body_retention_days": settings.DELIVERY_BODY_RETENTION_DAYS,
                "idempotency_retention_hours": settings.IDEMPOTENCY_RETENTION_HOURS,
                "more": more,
            },
        )
    return Purged(purged, deleted, body_cutoff, key_cutoff, more)


def _expired_bodies(cutoff: datetime):
    return Delivery.objects.filter(received_at__lt=cutoff, status__in=FINISHED).exclude(body="")


def _in_batches(queryset, batch: int, limit: int, act) -> int:
    """Apply `act` to `queryset` (re-filtered, so a row that changed meanwhile is skipped)
    BATCH primary keys at a time, in key order, until nothing is left or `limit` is reached."""
    done, after = 0, 0
    while done < limit:
        pks = list(
            queryset.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[: min(batch, limit - done)]
        )
        if not pks:
            break
        done += act(queryset.filter(pk__in=pks))
        after = pks[-1]
    return done


def _empty_bodies(queryset, now: datetime) -> int:
    note = f"; body purged {now:%Y-%m-%d} (its SHA-256 is in intake.delivery_received)"
    return queryset.update(
        body="", outcome=Concat(F("outcome"), Value(note), output_field=TextField())
    )
