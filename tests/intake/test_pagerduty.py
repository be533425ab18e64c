"""PagerDuty Webhooks V3: signatures (with rotation), replays, incident events -> signals."""

import hashlib
import json

import pytest

from audit.models import AuditEvent
from failover.intake.integrations import retire_old_secrets, rotate_secret
from failover.intake.models import Delivery
from failover.models import Signal
from tests.intake.conftest import make_integration, pd_time, post, process_all, sign

pytestmark = pytest.mark.django_db

RULES = {"services": {"PSHOP01": "shop"}, "metric": "error_rate", "value": 100}


def incident(
    event_type="incident.triggered", incident_id="Q1ABC", pd_service="PSHOP01", occurred_at=None
):
    return {
        "event": {
            "id": f"01DEVT{incident_id}{event_type.split('.')[1].upper()}",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": occurred_at or pd_time(),
            "agent": None,
            "client": None,
            "data": {
                "id": incident_id,
                "type": "incident",
                "number": 42,
                "status": event_type.split(".")[1],
                "title": "Checkout error rate above 5%",
                "service": {"id": pd_service, "summary": "Shop", "type": "service_reference"},
                "urgency": "high",
            },
        }
    }


def deliver(client, payload, secrets, webhook_id="wh-1", signature=None):
    body = json.dumps(payload).encode()
    return post(
        client,
        "pagerduty",
        None,
        body=body,
        HTTP_X_PAGERDUTY_SIGNATURE=signature or sign(body, *secrets),
        HTTP_X_WEBHOOK_ID=webhook_id,
    )


@pytest.fixture
def pd(shop):
    return make_integration("pagerduty", rules=RULES)


def test_a_signed_delivery_is_stored_answered_and_processed_into_a_signal(client, pd, shop):
    integration, secret = pd
    response = deliver(client, incident(), [secret])
    assert response.status_code == 202
    delivery = Delivery.objects.get()
    assert response.json() == {"delivery": delivery.pk, "status": "received"}
    assert delivery.external_id == "pd:01DEVTQ1ABCTRIGGERED" and delivery.status == "received"
    assert json.loads(delivery.body)["event"]["data"]["id"] == "Q1ABC"
    integration.refresh_from_db()
    assert integration.last_received_at is not None

    process_all()
    delivery.refresh_from_db()
    # The task audits the receipt (the door does not wait for the audit chain), once.
    receipt = AuditEvent.objects.get(action="intake.delivery_received")
    assert receipt.data["body_sha256"] == hashlib.sha256(delivery.body.encode()).hexdigest()
    assert receipt.data["status"] == "received" and receipt.object_id == str(delivery.pk)
    assert delivery.status == "processed", delivery.outcome
    signal = Signal.objects.get()
    assert (signal.service, signal.metric, signal.value, signal.status) == (
        shop,
        "error_rate",
        100,
        "firing",
    )
    assert (signal.source, signal.external_id) == ("pagerduty", "Q1ABC")
    assert "failover request #" in delivery.outcome


def test_resolved_incident_resolves_the_signal(client, pd):
    _, secret = pd
    deliver(client, incident(), [secret], webhook_id="wh-1")
    deliver(client, incident("incident.resolved"), [secret], webhook_id="wh-2")
    process_all()
    signal = Signal.objects.get()
    assert signal.status == "resolved" and signal.resolved_at is not None


def test_other_incident_events_are_recorded_and_change_nothing(client, pd):
    _, secret = pd
    deliver(client, incident("incident.acknowledged"), [secret])
    process_all()
    delivery = Delivery.objects.get()
    assert delivery.status == "ignored"
    assert "incident.acknowledged recorded" in delivery.outcome
    assert not Signal.objects.exists()


def test_an_unlinked_pagerduty_service_is_refused_with_the_reason(client, pd):
    _, secret = pd
    deliver(client, incident(pd_service="POTHER"), [secret])
    process_all()
    delivery = Delivery.objects.get()
    assert delivery.status == "refused"
    assert "service 'POTHER' is not on the allow-list of integration 'pagerduty'" in (
        delivery.outcome
    )
    assert "(it may feed: shop)" in delivery.outcome


def test_a_wrong_signature_is_refused_and_nothing_is_stored(client, pd):
    _, secret = pd
    for signature in (sign(b"other body", secret), "v1=00", "", "v2=abc", "v1=\u00e9\u00e9"):
        response = deliver(client, incident(), [secret], signature=signature or "x")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"
    response = deliver(client, incident(), ["a-secret-nobody-configured"])
    assert response.status_code == 401
    assert not Delivery.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="intake.").exists()


def test_during_rotation_either_secret_signs(client, pd):
    integration, old = pd
    _, new = rotate_secret(actor=None, name=integration.name)
    assert old != new
    assert deliver(client, incident(), [old], webhook_id="a").status_code == 202
    assert deliver(client, incident(), [new], webhook_id="b").status_code == 202
    # PagerDuty itself sends one value per secret while it rotates: any match is enough.
    # One body, signed and sent: its occurred_at (milliseconds) must not tick in between.
    body = incident()
    both = sign(json.dumps(body).encode(), "not-ours-" * 3, new)
    assert deliver(client, body, [], webhook_id="c", signature=both).status_code == 202

    retire_old_secrets(actor=None, name=integration.name)
    assert deliver(client, incident(), [old], webhook_id="d").status_code == 401
    assert deliver(client, incident(), [new], webhook_id="e").status_code == 202


def test_a_retried_delivery_is_processed_once(client, pd):
    _, secret = pd
    payload = incident()
    first = deliver(client, payload, [secret], webhook_id="wh-same")
    again = deliver(client, payload, [secret], webhook_id="wh-same")
    assert first.status_code == again.status_code == 202
    assert again.json()["status"] == "duplicate"
    process_all()
    assert Signal.objects.count() == 1
    original, replay = Delivery.objects.order_by("pk")
    assert original.status == "processed" and original.external_id == "pd:01DEVTQ1ABCTRIGGERED"
    assert replay.status == "duplicate" and replay.body == ""  # the body is stored once
    assert f"duplicate of delivery #{original.pk}" in replay.outcome


def test_the_secret_is_stored_encrypted(pd):
    integration, secret = pd
    assert secret not in json.dumps(integration.secrets)
    assert "fernet" in integration.secrets[0]


def test_without_a_webhook_id_the_event_id_deduplicates(client, pd):
    _, secret = pd
    body = json.dumps(incident()).encode()
    for _ in range(2):
        post(client, "pagerduty", None, body=body, HTTP_X_PAGERDUTY_SIGNATURE=sign(body, secret))
    assert list(Delivery.objects.order_by("pk").values_list("external_id", "status")) == [
        ("pd:01DEVTQ1ABCTRIGGERED", "received"),
        ("", "duplicate"),
    ]


def test_last_received_at_is_kept_fresh_without_writing_it_for_every_delivery(
    client, pd, shop, monkeypatch
):
    import time
    from datetime import timedelta

    from failover.intake import services
    from failover.intake.models import Integration

    # Time really passes (the door remembers the row it read, so moving the stored value back
    # would not stand in for it).
    monkeypatch.setattr(services, "RECEIVED_AT_EVERY", timedelta(seconds=0.5))
    integration, secret = pd
    deliver(client, incident(incident_id="Q1"), [secret], webhook_id="wh-a")
    first = Integration.objects.get(pk=integration.pk).last_received_at
    deliver(client, incident(incident_id="Q2"), [secret], webhook_id="wh-b")
    assert Integration.objects.get(pk=integration.pk).last_received_at == first
    time.sleep(0.6)
    deliver(client, incident(incident_id="Q3"), [secret], webhook_id="wh-c")
    assert Integration.objects.get(pk=integration.pk).last_received_at > first
