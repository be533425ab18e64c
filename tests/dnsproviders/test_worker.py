"""Through real Celery worker processes and a real broker: the faults an incident brings."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from approvals.services import record_decision
from dnsproviders.models import DnsChange
from dnsproviders.sweeper import sweep
from failover.models import FailoverRequest
from failover.services import declare_request
from tests.factories import make_service, user
from tests.harness.owner import owner_connection
from tests.harness.worker import Worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(broker, tmp_path, zone_dir):
    started = []

    def start(**env):
        w = Worker(broker, tmp_path, zone_dir, **env).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def approve(request):
    for who, role in (("avail", "availability"), ("identity", "identity")):
        record_decision(
            actor=user(who),
            request_id=request.pk,
            kind="approve",
            role=role,
            plan_hash=request.plan_hash,
        )


def state_is(request, state):
    return lambda: FailoverRequest.objects.get(pk=request.pk).state == state


def test_an_approval_reaches_the_zone_through_the_worker(worker, zone_dir):
    worker()
    service = make_service("web", auth_change=False, policy={"execute_on_approval": True})
    request = declare_request(
        actor=user("declarer"), service=service, target="failover", reason="eu-west-1 down"
    )
    approve(request)
    wait_for(state_is(request, "applied"), what="the request to be applied")
    assert "203.0.113.1" in (zone_dir / "example.test.zone").read_text()


@pytest.mark.skipif(
    "not __import__('shutil').which('redis-server')",
    reason="needs redis-server: apt-get install redis-server",
)
def test_an_approval_committed_while_the_broker_is_down_still_executes(broker, worker):
    worker()
    service = make_service("web", auth_change=False, policy={"execute_on_approval": True})
    request = declare_request(
        actor=user("declarer"), service=service, target="failover", reason="eu-west-1 down"
    )
    broker.stop()
    approve(request)  # commits; the enqueue fails and is only logged
    change = DnsChange.objects.get(request=request)
    assert change.status == "queued"
    broker.start()
    later = timezone.now() + timedelta(seconds=20)
    assert sweep(now=later)["apply"] == 1
    wait_for(state_is(request, "applied"), timeout=60, what="the request to be applied")


def test_a_worker_killed_mid_submit_leaves_exactly_one_change(
    worker, route53_account, hosted_zone, proxy
):
    from tests.harness.route53 import live_values, upsert

    zone = hosted_zone["name"]
    service = make_service(
        "api",
        account=route53_account,
        zone=zone,
        auth_change=False,
        policy={"execute_on_approval": True},
    )
    upsert(hosted_zone, f"api.{zone}", ["198.51.100.1"])
    first = worker(ROUTE53_RATE_PER_SECOND="1000")
    request = declare_request(
        actor=user("declarer"), service=service, target="failover", reason="down"
    )
    proxy.hang_after_change = 20  # the change lands at Route 53; its answer does not come back
    approve(request)
    wait_for(lambda: proxy.stats["changes_forwarded"] == 1, what="the change to reach Route 53")
    first.kill()
    proxy.hang_after_change = 0
    change = DnsChange.objects.get(request=request)
    assert change.status == "submitting" and not change.provider_change_id
    worker(ROUTE53_RATE_PER_SECOND="1000")
    wait_for(lambda: sweep()["apply"] == 1, timeout=15, what="the lease to expire")
    wait_for(state_is(request, "applied"), what="the request to be applied")
    assert proxy.stats["changes_forwarded"] == 1
    assert live_values(hosted_zone, f"api.{zone}") == ["203.0.113.1"]


def test_the_same_task_delivered_twice_applies_once(worker, broker, zone_dir):
    from failover.dispatch import send_now

    service = make_service("web", auth_change=False, policy={"execute_on_approval": True})
    request = declare_request(
        actor=user("declarer"), service=service, target="failover", reason="down"
    )
    approve(request)
    change = DnsChange.objects.get(request=request)
    for _ in range(3):
        send_now("dnsproviders.tasks.apply_change", change.pk)
    worker()
    wait_for(state_is(request, "applied"), what="the request to be applied")
    from tests.dnsproviders.test_execution import serial

    assert serial(zone_dir) == 3  # created (1), seeded (2), one failover (3)


def sessions_opened() -> int:
    """Connections PostgreSQL has accepted to the test database so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.postgres
def test_a_worker_keeps_its_database_connections_from_one_failover_to_the_next(worker):
    """Celery's Django fix-up closes a worker's connections around every task: each failover
    paid a new connection (6 ms on loopback, a TLS handshake more to a database elsewhere).
    A worker keeps them for CONN_MAX_AGE, as a web process does: eight failovers open no more
    than the few threads that run a task for the first time (other tasks run beside them)."""
    requests = []
    for n in range(8):
        service = make_service(f"web{n}", auth_change=False, policy={"execute_on_approval": True})
        requests.append(
            declare_request(actor=user("declarer"), service=service, target="failover", reason="x")
        )
    worker()
    time.sleep(1.5)  # its warm-up done; a backend reports its session within a second
    before = sessions_opened()
    for request in requests:
        approve(request)
        wait_for(state_is(request, "applied"), what="the request to be applied")
    time.sleep(1.5)
    assert sessions_opened() - before <= 3


@pytest.mark.postgres
def test_a_worker_whose_connections_the_database_dropped_still_fails_over(worker):
    """Kept connections (the task's, the gate helpers') are checked before each use: a
    database restart between two failovers costs the next one a reconnect, not the failover."""
    worker()
    services = [
        make_service(f"web{n}", auth_change=False, policy={"execute_on_approval": True})
        for n in range(2)
    ]
    first, second = (
        declare_request(actor=user("declarer"), service=s, target="failover", reason="x")
        for s in services
    )
    approve(first)
    wait_for(state_is(first, "applied"), what="the first request to be applied")
    # As a restart would: every other session ends (as the server's owner).
    with owner_connection(autocommit=True) as owner:
        ended = owner.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND pid <> %s",
            [connection.connection.info.backend_pid],
        ).fetchone()[0]
    assert ended >= 2  # the worker's task thread and its gate helper
    approve(second)
    wait_for(state_is(second, "applied"), what="the second request to be applied")
