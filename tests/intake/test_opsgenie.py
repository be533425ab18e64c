"""Opsgenie alert-action webhooks: shared-secret header, Create/Close/Acknowledge."""

import pytest

from failover.intake.models import Delivery
from failover.models import FailoverRequest, Signal
from tests.intake.conftest import make_integration, post, process_all

pytestmark = pytest.mark.django_db


def action(name, alert_id="a1b2c3", details=None):
    return {
        "action": name,
        "alert": {
            "alertId": alert_id,
            "message": "Shop error rate high",
            "tags": ["shop", "prod"],
            "tinyId": "42",
            "entity": "",
            "alias": "shop-errors",
            "createdAt": 1714557600000,
            "username": "System",
            "details": {"service": "shop", "metric": "error_rate", "value": "8"}
            if details is None
            else details,
        },
        "source": {"name": "", "type": "API"},
        "integrationName": "Failover",
        "integrationId": "9f2d",
        "integrationType": "Webhook",
    }


@pytest.fixture
def og(shop):
    return make_integration("opsgenie")


def send(client, payload, secret, header="HTTP_X_FAILOVER_SECRET"):
    return post(client, "opsgenie", payload, **{header: secret})


def test_the_shared_secret_is_required(client, og):
    _, secret = og
    assert send(client, action("Create"), "wrong-secret-0123456789").status_code == 401
    assert post(client, "opsgenie", action("Create")).status_code == 401
    assert not Delivery.objects.exists()
    assert send(client, action("Create"), secret).status_code == 202
    delivery = Delivery.objects.get()
    assert "X-Failover-Secret" not in delivery.headers
    assert secret not in str(delivery.headers)


def test_the_header_name_comes_from_the_rules(client, shop):
    _, secret = make_integration("opsgenie", rules={"secret_header": "X-Og-Key"})
    assert send(client, action("Create"), secret).status_code == 401
    assert send(client, action("Create"), secret, header="HTTP_X_OG_KEY").status_code == 202


def test_create_close_and_acknowledge(client, og, shop):
    _, secret = og
    send(client, action("Create"), secret)
    send(client, action("Acknowledge"), secret)
    process_all()
    signal = Signal.objects.get()
    assert (signal.service, signal.metric, signal.value, signal.status) == (
        shop,
        "error_rate",
        8.0,
        "firing",
    )
    assert signal.external_id == "a1b2c3" and signal.source == "opsgenie"
    assert FailoverRequest.objects.get().origin_signal == signal  # 8 >= 5: breach
    ack = Delivery.objects.get(external_id="og:a1b2c3:Acknowledge")
    assert ack.status == "ignored" and "Acknowledge recorded" in ack.outcome

    send(client, action("Close", details={}), secret)  # found by the alert id alone
    process_all()
    signal.refresh_from_db()
    assert signal.status == "resolved"


def test_the_same_action_on_the_same_alert_counts_once(client, og):
    _, secret = og
    assert send(client, action("Create"), secret).json()["status"] == "received"
    assert send(client, action("Create"), secret).json()["status"] == "duplicate"
    process_all()
    assert Signal.objects.count() == 1


def test_rules_supply_metric_and_value_when_details_do_not(client, shop):
    rules = {"metric": "control_plane", "value": 1, "services": {"web-shop": "shop"}}
    _, secret = make_integration("opsgenie", rules=rules)
    send(client, action("Create", details={"service": "web-shop"}), secret)
    process_all()
    signal = Signal.objects.get()
    assert (signal.service.slug, signal.metric, signal.value) == ("shop", "control_plane", 1)
