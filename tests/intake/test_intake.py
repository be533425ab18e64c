"""What every intake door promises: rate limits, nothing lost when the broker is down,
idempotent processing, and a clear 4xx (never a 500) for anything a caller can send."""

import json

import pytest

from audit.models import AuditEvent
from failover.intake import services, tools
from failover.intake.models import Delivery
from failover.intake.processing import process_delivery
from failover.intake.services import sweep
from failover.models import FailoverRequest, Signal
from tests.harness.broker import redis_cache, repoint
from tests.harness.ports import free_port
from tests.intake.conftest import make_integration, post, process_all, sign

pytestmark = pytest.mark.django_db

FIRING = {
    "version": "4",
    "groupKey": "g",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"service": "shop", "metric": "error_rate"},
            "annotations": {"value": "9"},
            "startsAt": "2024-05-01T10:00:00Z",
            "fingerprint": "fp1",
        }
    ],
}


@pytest.fixture(params=["database", "redis"])
def limits(request, tmp_path, settings):
    """Where the intake limits are counted: the database bucket (local-memory cache) or the
    shared cache, a real Redis."""
    if request.param == "database":
        yield request.param
        return
    with redis_cache(settings, tmp_path):
        assert services.shared_cache()
        yield request.param


@pytest.fixture
def am(shop):
    return make_integration("alertmanager", "am", rate_limit_per_minute=2)


def send(client, secret, payload=FIRING, **extra):
    return post(client, "alertmanager", payload, HTTP_AUTHORIZATION=f"Bearer {secret}", **extra)


def test_past_the_integrations_limit_it_answers_429_naming_the_limit(client, am, limits):
    _, secret = am
    assert send(client, secret).status_code == 202
    assert send(client, secret).status_code == 202
    response = send(client, secret)
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert error["limit"] == "integration:am"
    assert "intake limit of integration 'am' (2/min) exceeded" in error["message"]
    assert error["retry_after"] >= 1
    assert response["Retry-After"] == str(error["retry_after"])
    assert Delivery.objects.count() == 2  # nothing stored for the throttled one


def test_unauthenticated_requests_do_not_use_up_the_limit(client, am, limits):
    _, secret = am
    for _ in range(5):
        assert send(client, "wrong-secret-0123456789").status_code == 401
    assert send(client, secret).status_code == 202


@pytest.fixture
def broker_down():
    from failover.celery import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    repoint(app, f"redis://127.0.0.1:{free_port()}/0", {})  # nothing listens there
    yield
    repoint(app, *saved)


def test_a_delivery_whose_task_was_not_enqueued_is_swept_and_processed(
    client, am, broker_down, django_capture_on_commit_callbacks, monkeypatch
):
    _, secret = am
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = send(client, secret)
    assert response.status_code == 202 and len(callbacks) == 1  # the enqueue ran, and failed
    delivery = Delivery.objects.get()
    assert delivery.status == "received"

    assert sweep() == 0  # too recent: its task may still be on its way
    later = delivery.received_at + services.STALE * 2
    assert sweep(now=later) == 0  # the broker is still down: nothing could be re-sent

    sent = []
    monkeypatch.setattr(services, "send_now", lambda task, *args: sent.append((task, args)) or 1)
    assert sweep(now=later) == 1  # the broker is back
    assert sent == [("failover.intake.tasks.process_delivery", (delivery.pk,))]
    process_delivery(delivery.pk)  # what the worker does with it
    delivery.refresh_from_db()
    assert delivery.status == "processed" and Signal.objects.count() == 1
    assert sweep(now=later) == 0  # only `received` deliveries are re-sent


def test_processing_twice_changes_nothing_the_second_time(client, am):
    _, secret = am
    send(client, secret)
    delivery = Delivery.objects.get()
    process_delivery(delivery.pk)
    counts = (Signal.objects.count(), FailoverRequest.objects.count(), AuditEvent.objects.count())
    delivery.refresh_from_db()
    first = (delivery.status, delivery.outcome, delivery.attempts, delivery.processed_at)
    assert "already done" in process_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.outcome, delivery.attempts, delivery.processed_at) == first
    assert counts == (
        Signal.objects.count(),
        FailoverRequest.objects.count(),
        AuditEvent.objects.count(),
    )
    assert counts[:2] == (1, 1)


def test_a_processing_error_is_recorded_not_retried_forever(client, am, monkeypatch):
    _, secret = am
    send(client, secret)

    def broken(payload, rules):
        raise KeyError("bug")

    monkeypatch.setattr(tools.for_kind("alertmanager"), "events", broken)
    process_all()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and "processing error" in delivery.outcome
    assert not Signal.objects.exists()


def test_a_database_hiccup_leaves_the_delivery_for_the_sweeper(client, am, monkeypatch):
    from django.db import OperationalError

    _, secret = am
    send(client, secret)

    def locked(payload, rules):
        raise OperationalError("database is locked")

    monkeypatch.setattr(tools.for_kind("alertmanager"), "events", locked)
    with pytest.raises(OperationalError):
        process_all()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("received", 0)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{", b"\xff\xfe{}", b"", b"[" * 100_000 + b"]" * 100_000, b"1" * 5000],
)
def test_a_body_that_is_not_json_is_refused_and_nothing_is_stored(client, am, body):
    _, secret = am
    response = send(client, secret, None, body=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert not Delivery.objects.exists()


def test_a_body_over_one_mebibyte_is_refused(client, am):
    _, secret = am
    big = json.dumps({"alerts": [], "padding": "x" * (1024 * 1024)}).encode()
    response = send(client, secret, None, body=big)
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]["message"]
    assert not Delivery.objects.exists()


ODD_BODIES = [
    [],
    "text",
    42,
    None,
    {},
    {"alerts": "x"},
    {"alerts": [1, "x", None, [], {}]},
    {"alerts": [{"status": "firing", "labels": "x", "annotations": [], "fingerprint": 7}]},
    {"alerts": [{"status": "firing", "labels": {"service": ["shop"], "metric": {}}}]},
    {"version": 3, "alerts": []},
    {"event": []},
    {"event": {"event_type": 5, "data": "x"}},
    {"event": {"event_type": "incident.triggered", "resource_type": "incident", "data": {}}},
    {
        "event": {
            "event_type": "incident.triggered",
            "resource_type": "incident",
            "data": {"id": "Q1", "service": {"id": {"x": 1}}},
        }
    },
    {"event": {"event_type": "pagey.ping", "resource_type": "pagey"}},
    {"action": "Create", "alert": {"alertId": ["x"]}},
    {"action": ["Create"], "alert": {"alertId": "x", "details": "y"}},
    {"action": "Create", "alert": {"alertId": "x\u0000y", "details": {"value": "1e999"}}},
    {"action": "Close", "alert": {"alertId": "never-created"}},
    {"x": "\u0000" * 10, "y": float("inf") if False else 1e308},
]


@pytest.mark.parametrize("kind", ["alertmanager", "opsgenie", "pagerduty"])
def test_any_json_is_stored_and_processing_says_why_it_did_nothing(client, shop, kind):
    _, secret = make_integration(kind)
    # Each tool also gets another tool's well-formed payload.
    for payload in [*ODD_BODIES, *([FIRING] if kind != "alertmanager" else [])]:
        body = json.dumps(payload).encode()
        headers = {
            "alertmanager": {"HTTP_AUTHORIZATION": f"Bearer {secret}"},
            "opsgenie": {"HTTP_X_FAILOVER_SECRET": secret},
            "pagerduty": {"HTTP_X_PAGERDUTY_SIGNATURE": sign(body, secret)},
        }[kind]
        response = post(client, kind, None, body=body, **headers)
        assert response.status_code == 202, (payload, response.content)
    process_all()
    for delivery in Delivery.objects.all():
        # PagerDuty's without a signed event time are refused at the door (not processed).
        assert delivery.status in ("failed", "ignored", "duplicate", "refused"), delivery.body
        assert delivery.outcome, delivery.body
    assert not Signal.objects.exists()


def test_odd_requests_never_get_a_500(client, am):
    _, secret = am
    body = json.dumps(FIRING).encode()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    url = "/api/v1/integrations/alertmanager/"
    odd = [
        lambda: client.post(url, data=body, content_type="text/plain", **auth),
        lambda: client.post(url, data=body, content_type="application/json", HTTP_ACCEPT="x/y"),
        lambda: client.post(url + "?integration=%00", data=body, content_type="a/b", **auth),
        lambda: client.post(url + "?integration=" + "x" * 5000, data=body, content_type="a/b"),
        lambda: client.post(url, data=body, content_type="a/b", CONTENT_LENGTH="abc", **auth),
        lambda: client.post(url, data=body, content_type="a/b", HTTP_AUTHORIZATION="Bearer \x00"),
        lambda: client.post(url, data=body, content_type="a/b", HTTP_AUTHORIZATION="Basic é=="),
        lambda: client.post(url, {"a": "form"}, **auth),
        lambda: client.get(url, **auth),
        lambda: client.put(url, data=body, **auth),
        lambda: client.delete(url, **auth),
        lambda: client.post("/api/v1/integrations/pagerduty/", data=body, content_type="a/b"),
        lambda: client.post(
            "/api/v1/integrations/pagerduty/",
            data=body,
            content_type="a/b",
            HTTP_X_PAGERDUTY_SIGNATURE="v1=" + "é" * 64,
        ),
        lambda: client.post("/api/v1/integrations/opsgenie/", data=body, content_type="a/b"),
    ]
    for index, call in enumerate(odd):
        response = call()
        assert response.status_code < 500, (index, response.content)
        if response.status_code >= 400:
            assert "error" in response.json(), index


def test_the_tasks_are_registered_under_the_names_the_services_send():
    from failover.celery import app

    app.loader.import_default_modules()
    assert services.PROCESS_TASK in app.tasks
    assert "failover.intake.tasks.sweep_deliveries" in app.tasks
