"""A Redis outage degrades, never breaks (invariant 17): with the cache and the broker (one
redis-server, as in docker-compose) killed under a running gunicorn and Celery worker, people
still read, decide and sign in, webhooks are still stored, readiness says what is degraded;
when Redis is back, the decision taken during the outage executes."""

from __future__ import annotations

import json
import re
import shutil
import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from approvals.services import record_decision
from dnsproviders.sweeper import sweep
from failover.intake.models import Delivery
from failover.intake.services import sweep as sweep_deliveries
from failover.models import FailoverRequest
from failover.services import declare_request
from tests.factories import make_service, user
from tests.harness.broker import Broker
from tests.harness.gunicorn import Gunicorn
from tests.harness.heartbeats import fresh_heartbeats
from tests.harness.worker import Worker, wait_for
from tests.intake.conftest import make_integration
from tests.tokens import personal_token

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        shutil.which("redis-server") is None,
        reason="needs redis-server: apt-get install redis-server",
    ),
]

PASSWORD = "outage-drill-password"


def cache_of(redis: Broker) -> str:
    return redis.url.rsplit("/", 1)[0] + "/1"


@pytest.fixture
def stack(tmp_path, zone_dir):
    """redis-server on a free port as broker (db 0) and cache (db 1); gunicorn; a worker."""
    redis = Broker(tmp_path / "broker").start()
    undo = redis.use_in_this_process()
    cache_url = cache_of(redis)
    worker = Worker(redis, tmp_path, zone_dir, CACHE_URL=cache_url).start()
    web = Gunicorn(redis, tmp_path, zone_dir, CACHE_URL=cache_url).start()
    try:
        yield redis, web, worker
    finally:
        web.stop()
        worker.stop()
        undo()
        redis.stop()


def alert(service: str) -> dict:
    return {
        "version": "4",
        "groupKey": f'{{}}:{{service="{service}"}}',
        "status": "firing",
        "receiver": "failover",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "service": service},
                "annotations": {"summary": "error rate 12%"},
                "startsAt": "2024-05-01T10:00:00Z",
                "fingerprint": "outage-1",
            }
        ],
    }


def browser_sign_in(base: str, username: str) -> requests.Session:
    """The browser door: the sign-in form with its CSRF token, then the dashboard."""
    session = requests.Session()
    form = session.get(f"{base}/login/", timeout=10)
    assert form.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    response = session.post(
        f"{base}/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[-2000:]
    assert session.get(f"{base}/", timeout=10).status_code == 200
    return session


def test_a_redis_outage_degrades_and_loses_nothing(stack, zone_dir):
    redis, web, worker = stack
    service = make_service("web", auth_change=False, policy={"execute_on_approval": True})
    request = declare_request(
        actor=user("declarer"), service=service, target="failover", reason="eu-west-1 down"
    )
    record_decision(
        actor=user("avail"), request_id=request.pk, kind="approve", role="availability",
        plan_hash=request.plan_hash,
    )  # fmt: skip
    person = user("declarer")
    person.set_password(PASSWORD)
    person.save()
    _, token = personal_token(user("identity"), name="outage drill")
    api = {"Authorization": f"Bearer {token}"}
    _, secret = make_integration("alertmanager", "prom", services=("web",))
    fresh_heartbeats(cache_of(redis))
    assert requests.get(f"{web.url}/readyz", timeout=10).json()["status"] == "ok"

    redis.stop()

    # A decision is recorded: the last approval, which executes on approval. First thing, so
    # its enqueue meets the dead broker itself (not a process that already knows it is down).
    decided = requests.post(
        f"{web.url}/api/v1/failover-requests/{request.pk}/decisions/",
        json={"kind": "approve", "role": "identity", "plan_hash": request.plan_hash},
        headers=api,
        timeout=30,
    )
    assert decided.status_code == 201, decided.text
    assert FailoverRequest.objects.get(pk=request.pk).state == "executing"

    # A webhook is stored (its intake limit reads the cache; its processing needs the broker).
    hook = requests.post(
        f"{web.url}/api/v1/integrations/alertmanager/?integration=prom",
        data=json.dumps(alert("web")),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert hook.status_code == 202, hook.text
    assert Delivery.objects.get().status == "received"

    # Readiness names what is degraded, without a 500; liveness stays ok.
    ready = requests.get(f"{web.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "degraded"
    assert ready.json()["degraded"] == ["cache", "broker"]
    assert requests.get(f"{web.url}/healthz", timeout=10).json()["status"] == "ok"

    # Reading through the API (its rate limits read the cache).
    read = requests.get(
        f"{web.url}/api/v1/failover-requests/{request.pk}/", headers=api, timeout=10
    )
    assert read.status_code == 200, read.text

    # Signing in through the browser door (the sign-in throttle reads the cache).
    browser_sign_in(web.url, "declarer")

    # Each outage is logged once by the web process, not once per request, however long.
    for _ in range(12):  # past degrade.RETRY_SECONDS: Redis is tried again, and again fails
        time.sleep(0.5)
        assert requests.get(f"{web.url}/api/v1/services/", headers=api, timeout=10).ok
    log = web.log.read_text()
    assert log.count("the shared cache is unreachable") == 1, log[-3000:]
    assert log.count("the Celery broker is unreachable") == 1, log[-3000:]

    redis.start()

    # What was decided during the outage goes out: the sweeper re-sends it to the worker.
    later = timezone.now() + timedelta(seconds=30)
    wait_for(lambda: sweep(now=later)["apply"] >= 1, timeout=30, what="the sweeper to re-send")
    wait_for(
        lambda: FailoverRequest.objects.get(pk=request.pk).state == "applied",
        timeout=90,
        what="the decision's execution",
    )
    assert "203.0.113.1" in (zone_dir / "example.test.zone").read_text()
    assert sweep_deliveries(now=later) == 1
    wait_for(lambda: Delivery.objects.get().status != "received", timeout=60, what="the webhook")
    fresh_heartbeats(cache_of(redis))
    assert requests.get(f"{web.url}/readyz", timeout=10).json()["status"] == "ok"
    assert worker.process.poll() is None
