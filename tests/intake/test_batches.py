"""The intake worker takes waiting deliveries in batches (issue 18): a task takes its delivery
and those waiting behind it in one transaction, with a few round trips a delivery; the chain
records every delivery as if processed alone; a broken delivery fails alone; and two workers
draining at once take each delivery once, without deadlocking on the services they lock."""

import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.verify import verify_chain
from failover.intake import tasks, tools
from failover.intake.models import Delivery
from failover.intake.processing import BATCH
from failover.models import Signal
from tests.factories import make_service
from tests.harness.ports import free_port
from tests.harness.races import race
from tests.intake.conftest import let_declare, make_integration, post
from tests.intake.test_sweep import queued

SERVICES = ("alpha", "bravo", "charlie", "delta")
REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


@pytest.fixture
def am(db):
    for slug in SERVICES:
        let_declare(make_service(slug))
    _, secret = make_integration("alertmanager", "am", services=SERVICES)
    return secret


def deliver(client, secret, n: int, service: str = "alpha", name: str = "am") -> Delivery:
    alert = {
        "status": "firing",
        "labels": {"service": service, "metric": "error_rate"},
        "annotations": {"value": "1"},
        "fingerprint": f"fp{n}",
    }
    payload = {"version": "4", "groupKey": f"g{n}", "alerts": [alert]}
    response = post(
        client,
        "alertmanager",
        payload,
        query=f"?integration={name}",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 202
    return Delivery.objects.order_by("-pk").first()


def actions_of(delivery: Delivery) -> list[str]:
    rows = AuditEvent.objects.filter(object_type="intake.delivery", object_id=str(delivery.pk))
    return list(rows.order_by("seq").values_list("action", flat=True))


pytestmark = pytest.mark.django_db


def test_a_task_takes_its_delivery_and_those_waiting_behind_it(client, am):
    waiting = [deliver(client, am, n, SERVICES[n % 4]) for n in range(8)]
    with CaptureQueriesContext(connection) as queries:
        said = tasks.process_delivery(waiting[0].pk)
    assert said == "8 deliveries: 8 processed"
    assert set(Delivery.objects.values_list("status", flat=True)) == {"processed"}
    assert Signal.objects.count() == 8
    # One transaction: claim, allow-list, grants, locks and thresholds once, then a duplicate
    # check and an INSERT a signal, and one append of the chain: 26 on PostgreSQL. Alone, each
    # takes 15 (21 before batches); SQLite adds an UPDATE a delivery. Then two claims that find
    # nothing (before and after the mark is lifted), three queries each in the test's
    # transaction.
    assert len(queries) <= 18 + 3 * len(waiting), [q["sql"][:90] for q in queries]
    for delivery in waiting:  # each as if processed alone: received, then processed
        assert actions_of(delivery) == ["intake.delivery_received", "intake.delivery_processed"]
        delivery.refresh_from_db()
        assert delivery.attempts == 1 and delivery.processed_at is not None
    assert verify_chain().ok
    assert tasks.process_delivery(waiting[-1].pk).startswith("not waiting")


def test_the_next_task_takes_a_delivery_whose_task_was_lost(client, am):
    lost = deliver(client, am, 1)
    arrived = deliver(client, am, 2)
    assert tasks.process_delivery(arrived.pk) == "2 deliveries: 2 processed"
    assert Delivery.objects.get(pk=lost.pk).status == "processed"
    assert Signal.objects.count() == 2


def test_a_task_drains_what_waits_batch_after_batch(client, am):
    waiting = [deliver(client, am, n) for n in range(BATCH + 2)]
    assert tasks.process_delivery(waiting[0].pk) == f"{BATCH + 2} deliveries: {BATCH + 2} processed"
    assert Signal.objects.count() == BATCH + 2


def test_a_broken_delivery_fails_alone_and_the_rest_of_its_batch_is_processed(
    client, am, monkeypatch
):
    waiting = [deliver(client, am, n) for n in range(3)]
    parse = tools.for_kind("alertmanager").events

    def broken_for_fp1(payload, rules):
        if payload["alerts"][0]["fingerprint"] == "fp1":
            raise KeyError("bug")
        return parse(payload, rules)

    monkeypatch.setattr(tools.for_kind("alertmanager"), "events", broken_for_fp1)
    assert tasks.process_delivery(waiting[0].pk) == "3 deliveries: 1 failed, 2 processed"
    statuses = [Delivery.objects.get(pk=d.pk).status for d in waiting]
    assert statuses == ["processed", "failed", "processed"]
    assert "processing error" in Delivery.objects.get(pk=waiting[1].pk).outcome
    assert sorted(Signal.objects.values_list("external_id", flat=True)) == ["fp0", "fp2"]
    for delivery in waiting:
        assert actions_of(delivery) == ["intake.delivery_received", "intake.delivery_processed"]
    assert verify_chain().ok


def test_an_event_refused_in_a_batch_changes_nothing_and_the_others_go_through(client, am):
    make_service("echo")  # not on the integration's allow-list
    allowed = deliver(client, am, 0, "alpha")
    refused = deliver(client, am, 1, "echo")
    tasks.process_delivery(allowed.pk)
    assert Delivery.objects.get(pk=refused.pk).status == "refused"
    assert list(Signal.objects.values_list("service__slug", flat=True)) == ["alpha"]
    assert AuditEvent.objects.get(action="intake.signal_refused").data["service"] == "echo"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_at_once_take_each_delivery_once(client, am):
    """Each batch locks its services in one order and skips deliveries another holds."""
    for round_ in range(3):
        waiting = [deliver(client, am, round_ * 100 + n, SERVICES[-n % 4]) for n in range(60)]
        results = race(
            *[lambda pk=d.pk: tasks.process_delivery(pk) for d in (waiting[0], waiting[1])] * 2
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        assert not Delivery.objects.filter(status="received").exists()
    assert Signal.objects.count() == Signal.objects.values("external_id").distinct().count()
    assert Signal.objects.count() == 180
    assert AuditEvent.objects.filter(action="intake.delivery_received").count() == 180
    assert verify_chain().ok


@pytest.fixture
def shared_cache(broker, settings):
    """The cache every process shares, as in production: Redis (the broker's server)."""
    if not broker.url.startswith("redis://"):
        pytest.skip("needs redis-server (Debian package redis-server)")
    location = broker.url.rsplit("/", 1)[0] + "/1"
    settings.CACHES = {"default": {"BACKEND": REDIS_CACHE, "LOCATION": location}}


def test_in_a_burst_the_door_sends_one_task_and_it_takes_them_all(
    client, am, shared_cache, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        waiting = [deliver(client, am, n) for n in range(5)]
    assert queued() == [waiting[0].pk]  # one task on its way is enough
    assert tasks.process_delivery(waiting[0].pk) == "5 deliveries: 5 processed"
    with django_capture_on_commit_callbacks(execute=True):
        later = [deliver(client, am, n) for n in range(5, 7)]
    assert queued() == [later[0].pk]  # the task lifted the mark once nothing waited


def test_a_delivery_arriving_while_a_task_drains_sends_no_task_and_is_drained(
    client, am, shared_cache, django_capture_on_commit_callbacks
):
    """The mark stays set while a task drains: a door meanwhile sends nothing, and the same
    task takes its delivery. Here the door is called from inside the task's work on the first
    delivery (when its signal is saved), its commit callbacks run at once, as a door of its own
    would run them."""
    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(client, am, 0)
    arrived = []

    def a_door_meanwhile(sender, instance, created, **kwargs):
        if created and not arrived:
            with django_capture_on_commit_callbacks(execute=True):
                arrived.append(deliver(client, am, 1))

    post_save.connect(a_door_meanwhile, sender=Signal, dispatch_uid="door-meanwhile")
    try:
        assert tasks.process_delivery(first.pk) == "2 deliveries: 2 processed"
    finally:
        post_save.disconnect(sender=Signal, dispatch_uid="door-meanwhile")
    assert arrived and queued() == [first.pk]  # no task for the second: one was at work
    with django_capture_on_commit_callbacks(execute=True):
        later = deliver(client, am, 2)
    assert queued() == [later.pk]  # nothing waited: the mark was lifted


def test_with_the_cache_down_every_delivery_sends_its_own_task(
    client, am, broker, settings, django_capture_on_commit_callbacks
):
    down = f"redis://127.0.0.1:{free_port()}/1"  # nothing listens there
    settings.CACHES = {"default": {"BACKEND": REDIS_CACHE, "LOCATION": down}}
    with django_capture_on_commit_callbacks(execute=True):
        waiting = [deliver(client, am, n) for n in range(3)]
    assert queued() == [d.pk for d in waiting]
    assert tasks.process_delivery(waiting[0].pk) == "3 deliveries: 3 processed"


def test_in_one_batch_each_integration_feeds_only_its_own_services(client, am):
    """Another team's integration, its deliveries in the same batch as ours: the allow-list
    and grants are read per integration, never shared across the batch."""
    let_declare(make_service("echo"), "other-bot")
    _, other = make_integration("alertmanager", "other", account="other-bot", services=["echo"])
    ours = deliver(client, am, 0, "alpha")
    theirs_on_ours = deliver(client, other, 1, "alpha", "other")  # not on their allow-list
    ours_on_theirs = deliver(client, am, 2, "echo")  # nor echo on ours
    deliver(client, other, 3, "echo", "other")
    assert tasks.process_delivery(ours.pk) == "4 deliveries: 2 processed, 2 refused"
    statuses = [Delivery.objects.get(pk=d.pk).status for d in (ours, theirs_on_ours)]
    assert statuses == ["processed", "refused"]
    assert Delivery.objects.get(pk=ours_on_theirs.pk).status == "refused"
    fired = Signal.objects.values_list("service__slug", "external_id")
    assert sorted(fired) == [("alpha", "fp0"), ("echo", "fp3")]
    refused = AuditEvent.objects.filter(action="intake.signal_refused")
    assert sorted(e.data["integration"] for e in refused) == ["am", "other"]
