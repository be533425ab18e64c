from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from approvals.models import IdempotencyKey
from approvals.services import expire_stale_requests as expire

IDEMPOTENCY_KEPT = timedelta(hours=24)


@shared_task(ignore_result=True)
def expire_stale_requests() -> dict[str, int]:
    return expire()


@shared_task(ignore_result=True)
def purge_idempotency_keys() -> int:
    """Keys are a retry aid, not a record: forget them after a day."""
    cutoff = timezone.now() - IDEMPOTENCY_KEPT
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
