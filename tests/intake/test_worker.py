"""Through a real broker and worker: a delivery that arrives while the broker is down is
answered, kept, and processed once the sweeper re-sends it."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from failover.intake.models import Delivery
from failover.intake.tasks import sweep_deliveries
from failover.models import Signal
from tests.factories import make_service
from tests.harness.worker import Worker, wait_for
from tests.intake.conftest import let_declare, make_integration, post

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "not __import__('shutil').which('redis-server')",
        reason="needs redis-server: apt-get install redis-server",
    ),
]

PAYLOAD = {
    "version": "4",
    "groupKey": "g",
    "alerts": [
        {
            "status": "firing",
            "labels": {"service": "shop", "metric": "error_rate"},
            "annotations": {"value": "1"},
            "fingerprint": "fp1",
        }
    ],
}


def test_a_delivery_taken_while_the_broker_is_down_is_swept_to_the_worker(
    client, broker, tmp_path, zone_dir
):
    let_declare(make_service("shop"))
    _, secret = make_integration("alertmanager")
    worker = Worker(broker, tmp_path, zone_dir).start()
    try:
        broker.stop()
        body = json.dumps(PAYLOAD).encode()
        response = post(
            client, "alertmanager", None, body=body, HTTP_AUTHORIZATION=f"Bearer {secret}"
        )
        assert response.status_code == 202
        delivery = Delivery.objects.get()
        assert delivery.status == "received"

        broker.start()
        # As if the sweeper's 15 s had passed.
        earlier = timezone.now() - timedelta(seconds=20)
        Delivery.objects.filter(pk=delivery.pk).update(received_at=earlier)
        assert sweep_deliveries() == 1  # the periodic task, run here instead of by beat
        wait_for(
            lambda: Delivery.objects.get(pk=delivery.pk).status == "processed",
            what="the worker to process the swept delivery",
        )
        assert Signal.objects.get().external_id == "fp1"
    finally:
        worker.stop()
