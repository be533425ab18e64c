"""The sweeper against a real broker: it re-sends a delivery whose task was lost, not one
still queued behind a flood (issue 18: under a 400/s burst every publish reached Redis, yet
each sweep re-sent up to 500 queued deliveries as duplicates), and publishes from many
threads at once all reach the broker."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from failover.dispatch import send_now
from failover.intake import tasks
from failover.intake.models import Delivery
from failover.intake.processing import process_delivery
from failover.intake.services import PROCESS_TASK, STALE, sweep
from tests.intake.conftest import make_integration

pytestmark = pytest.mark.django_db

QUEUE = "intake"  # where PROCESS_TASK is routed (settings.CELERY_TASK_ROUTES)


def queued() -> list[int]:
    """The delivery ids of the process_delivery tasks waiting in the broker, taken off it."""
    from failover.celery import app

    found = []
    with app.connection_for_read() as connection, connection.SimpleQueue(QUEUE) as queue:
        while True:
            try:
                message = queue.get(timeout=0.5)
            except queue.Empty:
                return found
            args, _kwargs, _embed = message.payload
            assert message.headers["task"] == PROCESS_TASK
            found.append(args[0])
            message.ack()


def delivery(integration, n: int, seconds_ago: float) -> Delivery:
    made = Delivery.objects.create(
        integration=integration, external_id=f"d{n}", body=json.dumps({"alerts": []})
    )
    at = timezone.now() - timedelta(seconds=seconds_ago)
    Delivery.objects.filter(pk=made.pk).update(received_at=at)
    return made


def test_a_delivery_queued_behind_the_worker_is_not_re_sent_a_lost_one_is(broker):
    integration, _ = make_integration("alertmanager")
    lost = delivery(integration, 1, seconds_ago=4 * STALE.total_seconds())
    still_queued = delivery(integration, 2, seconds_ago=2 * STALE.total_seconds())
    claimed = delivery(integration, 3, seconds_ago=1.5 * STALE.total_seconds())
    process_delivery(claimed.pk)  # the worker, just now: its queue had reached `claimed`

    # Tasks are taken in the order they were sent: the worker, past `claimed`, skipped `lost`
    # (its task never reached the broker); `still_queued` may be next in line behind it.
    assert sweep() == 1
    assert queued() == [lost.pk]
    assert Delivery.objects.get(pk=still_queued.pk).status == "received"


def test_an_idle_worker_is_sent_one_task_for_every_stale_delivery(broker):
    integration, _ = make_integration("alertmanager")
    claimed = delivery(integration, 1, seconds_ago=10 * STALE.total_seconds())
    process_delivery(claimed.pk)
    long_ago = timezone.now() - 3 * STALE
    Delivery.objects.filter(pk=claimed.pk).update(processed_at=long_ago)
    older = delivery(integration, 2, seconds_ago=4 * STALE.total_seconds())
    newer = delivery(integration, 3, seconds_ago=2 * STALE.total_seconds())
    recent = delivery(integration, 4, seconds_ago=STALE.total_seconds() / 3)

    # Nothing claimed for STALE: the queue is empty, so what waits lost its task. One task
    # takes every delivery waiting: the oldest's.
    assert sweep() == 2
    assert queued() == [older.pk]
    assert Delivery.objects.get(pk=recent.pk).status == "received"  # its task may be on its way
    assert tasks.process_delivery(older.pk) == "3 deliveries: 3 ignored"
    assert Delivery.objects.get(pk=newer.pk).status == "ignored"


def test_publishes_from_many_threads_at_once_all_reach_the_broker(broker):
    threads, each = 12, 40
    results: list[bool] = []

    def publish(base: int) -> None:
        results.extend(send_now(PROCESS_TASK, base + n) for n in range(each))

    started = [threading.Thread(target=publish, args=(t * each,)) for t in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    assert results == [True] * threads * each
    assert sorted(queued()) == list(range(threads * each))
