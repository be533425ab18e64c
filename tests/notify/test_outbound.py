"""Notifications go only where the outbound guard allows: a refused endpoint is a failed
delivery with its reason (no retry would be allowed either), never a POST and never a 500."""

import pytest

from failover.notify import services
from failover.services import declare_request
from tests.factories import make_service, user
from tests.notify.conftest import new_endpoint
from tests.readiness import garbage
from tests.readiness.garbage import RawServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def retries(monkeypatch):
    calls = []
    monkeypatch.setattr(services, "send_now", lambda task, *a, countdown=None: calls.append(a))
    return calls


def queued_for(url):
    service = make_service()
    endpoint = new_endpoint(service, "ops", url, format="slack", events=["declared"])
    declare_request(actor=user("declarer"), service=service, target="failover", reason="down")
    return endpoint.notifications.get(event="declared")


def test_a_loopback_endpoint_is_refused_and_not_posted_to(settings, hooks, retries):
    settings.OUTBOUND_ALLOW_NETWORKS = []
    row = queued_for(f"{hooks.url}/ops")
    assert services.send_notification(row.pk) == "failed"
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == 1
    assert row.last_error.startswith("refused: refused to connect to 127.0.0.1")
    assert "loopback" in row.last_error
    assert hooks.requests == [] and retries == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://10.0.0.5:8080/hook",
        "https://[fd00::1]/hook",
        "http://0.0.0.0:9/hook",
    ],
)
def test_metadata_and_private_endpoints_are_refused(settings, retries, url):
    settings.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.0/8"]  # the demo's allowance opens no more
    row = queued_for(url)
    assert services.send_notification(row.pk) == "failed"
    row.refresh_from_db()
    assert "refused" in row.last_error and retries == []


def test_an_endpoint_answering_garbage_is_a_failed_attempt_with_the_reason(retries):
    with RawServer(garbage.banner) as server:
        row = queued_for(server.url("/hook"))
        assert services.send_notification(row.pk) == "retrying"
    row.refresh_from_db()
    assert row.last_error.startswith("the endpoint did not answer HTTP: BadStatusLine")
    assert len(retries) == 1  # garbage may be a restart in progress: tried again later
