"""Queue depths read from a real broker: a redis-server of the test's own (LLEN per routed
queue), kombu's filesystem transport (files); and a scrape with the broker stopped still
answers, quickly, with the broker marked down."""

import time

import pytest

from failover.celery import app
from tests.harness.broker import Broker, repoint
from tests.metrics.scrape import TOKEN, samples, value

pytestmark = pytest.mark.django_db

APPLY = "dnsproviders.tasks.apply_change"  # routed to the "critical" queue


@pytest.fixture
def redis(tmp_path):
    broker = Broker(tmp_path / "broker")
    if not broker.redis:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    broker.start()
    undo = broker.use_in_this_process()
    try:
        yield broker
    finally:
        undo()
        broker.stop()


def timed_scrape(client):
    started = time.monotonic()
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    return response, time.monotonic() - started


def test_redis_queue_depths_and_a_scrape_with_redis_stopped(client, metrics_on, redis):
    app.send_task(APPLY, args=[0])
    app.send_task(APPLY, args=[0])
    response, _ = timed_scrape(client)
    found = samples(response.content.decode())
    assert value(found, "failover_broker_up") == 1
    assert value(found, "failover_queue_messages", queue="critical") == 2
    assert value(found, "failover_queue_messages", queue="readiness") == 0

    redis.stop()
    response, took = timed_scrape(client)
    assert response.status_code == 200
    found = samples(response.content.decode())
    assert value(found, "failover_broker_up") == 0
    assert not [key for key in found if key[0] == "failover_queue_messages"]
    # Everything read from the database is still there.
    assert value(found, "failover_metrics_part_ok", part="requests") == 1
    assert value(found, "failover_metrics_part_ok", part="queues") == 1
    assert took < 5, f"a scrape with the broker down took {took:.1f} s"


def test_filesystem_queue_depths(client, metrics_on, tmp_path):
    queue = tmp_path / "queue"
    queue.mkdir()
    (tmp_path / "queue-control").mkdir()
    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    options = {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "control_folder": str(tmp_path / "queue-control"),
        "store_processed": False,
    }
    repoint(app, "filesystem://localhost/", options)
    try:
        app.send_task(APPLY, args=[0])
        app.send_task("approvals.readiness.tasks.run_readiness", args=[0])
        response, _ = timed_scrape(client)
    finally:
        repoint(app, *saved)
    found = samples(response.content.decode())
    assert value(found, "failover_broker_up") == 1
    assert value(found, "failover_queue_messages", queue="critical") == 1
    assert value(found, "failover_queue_messages", queue="readiness") == 1
    assert value(found, "failover_queue_messages", queue="intake") == 0
