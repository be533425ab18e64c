"""Liveness and readiness as load balancers meet them: any Host, any address, plain HTTP,
while every other path keeps ALLOWED_HOSTS and the HTTPS redirect; /healthz touches nothing;
/readyz answers 503 only without the database and names everything else that is down."""

from __future__ import annotations

import importlib.metadata
import shutil
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from failover import heartbeat
from tests.harness.broker import Broker
from tests.harness.gunicorn import Gunicorn
from tests.harness.heartbeats import fresh_heartbeats
from tests.harness.ports import free_port

VERSION = importlib.metadata.version("failover-approvals")
ODD_HOSTS = ["localhost", "10.0.3.7", "10.0.3.7:8000", "[fd00::7]", "web", "evil.example"]


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["failover.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    return settings


@pytest.mark.django_db
@pytest.mark.parametrize("host", ODD_HOSTS)
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_any_host_over_plain_http(client, production, host, path):
    fresh_heartbeats("locmemcache://")
    answer = client.get(path, HTTP_HOST=host)  # plain HTTP: no X-Forwarded-Proto, not secure
    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "ok"
    assert "no-store" in answer["Cache-Control"]
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert client.head(path, HTTP_HOST=host).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("host", ODD_HOSTS)
def test_every_other_path_still_refuses_the_host(client, production, host):
    assert client.get("/login/", HTTP_HOST=host).status_code == 400
    assert client.get("/healthz/", HTTP_HOST=host).status_code == 400  # exactly the paths
    assert client.get("/api/v1/services/", HTTP_HOST=host).status_code == 400
    # Another method on a probe path goes through the normal stack, and its host check.
    assert client.post("/healthz", HTTP_HOST=host).status_code == 400
    assert client.options("/readyz", HTTP_HOST=host).status_code == 400


@pytest.mark.django_db
def test_every_other_path_still_redirects_to_https(client, production):
    answer = client.get("/login/", HTTP_HOST="failover.example.com")
    assert answer.status_code == 301
    assert answer["Location"] == "https://failover.example.com/login/"
    assert client.get("/healthz", HTTP_HOST="failover.example.com").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["10.0.3.7", "localhost"])
def test_metrics_is_reached_by_any_host_too(client, production, host):
    """Its own token or network check answers (the metrics helper's), not ALLOWED_HOSTS."""
    answer = client.get("/metrics", HTTP_HOST=host)
    assert answer.status_code not in (301, 400), answer.status_code


@pytest.mark.django_db
def test_probes_over_https_keep_the_security_headers(client, production):
    answer = client.get("/healthz", HTTP_HOST="10.0.3.7", secure=True)
    assert answer["Strict-Transport-Security"].startswith("max-age=")
    assert answer["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in answer["Content-Security-Policy"]


def test_healthz_touches_no_dependency(client):
    """No database access is even allowed here (no django_db mark): a query would raise."""
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "version": VERSION}


# --- /readyz with each dependency stopped in turn, served by gunicorn ---------------------

needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs redis-server: apt-get install redis-server"
)


@pytest.fixture
def stack(tmp_path, zone_dir):
    """gunicorn with the broker and the cache on two redis-servers of their own, so that
    each can be stopped alone."""
    broker = Broker(tmp_path / "broker").start()
    cache = Broker(tmp_path / "cache").start()
    (tmp_path / "web").mkdir()
    web = Gunicorn(broker, tmp_path / "web", zone_dir, CACHE_URL=cache.url).start()
    try:
        yield broker, cache, web
    finally:
        web.stop()
        cache.stop()
        broker.stop()


def ready(web) -> tuple[int, dict]:
    answer = requests.get(f"{web.url}/readyz", headers={"Host": "10.0.3.7"}, timeout=10)
    return answer.status_code, answer.json()


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_readyz_names_each_dependency_stopped_in_turn(stack):
    broker, cache, web = stack
    fresh_heartbeats(cache.url)
    status, body = ready(web)
    assert (status, body["status"], body["degraded"]) == (200, "ok", []), body
    assert body["checks"]["beat"]["status"] == "ok"
    assert body["checks"]["beat"]["age_seconds"] < 10

    # Beat stopped long ago: degraded, with its age, never a 503 (the web tier stays in).
    heartbeat.record("beat", timezone.now() - timedelta(seconds=1000))
    status, body = ready(web)
    assert (status, body["status"], body["degraded"]) == (200, "degraded", ["beat"]), body
    assert 999 <= body["checks"]["beat"]["age_seconds"] < 1100
    assert "scheduled work has stopped" in body["checks"]["beat"]["effect"]
    heartbeat.record("beat")

    # No worker consumes the DNS queue, and nobody ever consumed a new one.
    heartbeat.record("queue:critical", timezone.now() - timedelta(seconds=500))
    status, body = ready(web)
    assert (status, body["degraded"]) == (200, ["queue:critical"]), body
    assert "DNS changes" in body["checks"]["queue:critical"]["effect"]
    fresh_heartbeats(cache.url)

    cache.stop()
    status, body = ready(web)
    assert (status, body["status"], body["degraded"]) == (200, "degraded", ["cache"]), body
    assert body["checks"]["cache"]["error"]
    cache.start()

    broker.stop()
    status, body = ready(web)
    assert (status, body["status"], body["degraded"]) == (200, "degraded", ["broker"]), body
    broker.start()

    fresh_heartbeats(cache.url)
    assert ready(web)[1]["status"] == "ok"


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_readyz_says_when_the_workers_use_another_cache(stack, tmp_path):
    """A worker on another Redis than the web's never clears the marks the web leaves it:
    said, once the web's cache has been up since before the worker's heartbeat; and not
    after a restart of the web's cache, which leaves no heartbeat in it until the next."""
    _, cache, web = stack
    other = Broker(tmp_path / "other").start()
    try:
        fresh_heartbeats(other.url)
        assert ready(web)[1]["status"] == "ok"  # the web's cache came up just now
        fresh_heartbeats(other.url)
        status, body = ready(web)
        queues = [name for name in heartbeat.expected() if name != heartbeat.BEAT]
        assert (status, body["status"], body["degraded"]) == (200, "degraded", queues), body
        check = body["checks"]["queue:intake"]
        assert check["status"] == "apart" and check["age_seconds"] < 10
        assert "webhook deliveries wait" in check["effect"]

        fresh_heartbeats(cache.url)  # the workers moved to the web's cache
        assert ready(web)[1]["status"] == "ok"

        cache.stop()
        cache.start()  # it kept nothing: no heartbeat in it yet, not taken for apart
        assert ready(web)[1]["status"] == "ok"
        fresh_heartbeats(cache.url)
        assert ready(web)[1]["status"] == "ok"
    finally:
        other.stop()


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_without_the_database_readyz_is_unavailable_and_healthz_still_ok(tmp_path, zone_dir):
    broker = Broker(tmp_path / "broker").start()
    closed = f"postgres://failover@127.0.0.1:{free_port()}/failover"
    web = Gunicorn(broker, tmp_path, zone_dir, DATABASE_URL=closed).start()  # up by /healthz
    try:
        status, body = ready(web)
        assert status == 503, body
        assert body == {
            "status": "unavailable",
            "checks": {"database": {"status": "down", "error": "OperationalError"}},
        }
        live = requests.get(f"{web.url}/healthz", headers={"Host": "10.0.3.7"}, timeout=10)
        assert (live.status_code, live.json()) == (200, {"status": "ok", "version": VERSION})
    finally:
        web.stop()
        broker.stop()
