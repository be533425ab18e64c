"""The per-tool parsers and credential checks are pure: no database, no request."""

import base64

import pytest

from failover.intake.events import FIRE, NOTE, RESOLVE, BadPayload, number
from failover.intake.tools import alertmanager, opsgenie, pagerduty
from tests.intake.conftest import sign


def test_pagerduty_signature_any_value_with_any_key():
    body = b'{"event": {}}'
    assert pagerduty.signature_ok(body, sign(body, "k1"), ["k0", "k1"])
    assert pagerduty.signature_ok(body, "v1=deadbeef, " + sign(body, "k2"), ["k2"])
    assert not pagerduty.signature_ok(body, sign(body, "k1"), ["k2"])
    assert not pagerduty.signature_ok(body, sign(body + b" ", "k1"), ["k1"])
    assert not pagerduty.signature_ok(body, "", ["k1"])
    assert not pagerduty.signature_ok(body, "v1=\u00e9", ["k1"])
    assert not pagerduty.signature_ok(body, sign(body, "k1"), [])


def test_pagerduty_events():
    def payload(event_type, **data):
        return {
            "event": {
                "event_type": event_type,
                "resource_type": "incident",
                "data": {"id": "Q1", "service": {"id": "P1"}, "title": "down", **data},
            }
        }

    rules = {"services": {"P1": "shop"}, "metric": "error_rate", "value": 50}
    (fire,) = pagerduty.events(payload("incident.triggered"), rules)
    assert (fire.action, fire.external_id, fire.service, fire.metric, fire.value) == (
        FIRE,
        "Q1",
        "shop",
        "error_rate",
        50,
    )
    (resolve,) = pagerduty.events(payload("incident.resolved"), rules)
    assert resolve.action == RESOLVE
    (note,) = pagerduty.events(payload("incident.priority_updated"), rules)
    assert note.action == NOTE
    (default,) = pagerduty.events(payload("incident.triggered"), {})
    assert (default.service, default.metric, default.value) == ("P1", "control_plane", 1)
    with pytest.raises(BadPayload):
        pagerduty.events({"event": {"event_type": "incident.triggered"}}, rules)


def test_alertmanager_credentials():
    assert alertmanager.credential("Bearer s3cret") == "s3cret"
    assert alertmanager.credential("bearer   s3cret ") == "s3cret"
    basic = "Basic " + base64.b64encode(b"am:pa:ss").decode()
    assert alertmanager.credential(basic) == "pa:ss"
    for bad in ("", "Bearer", "Basic !!", "Basic " + base64.b64encode(b"nocolon").decode()):
        assert alertmanager.credential(bad) is None


def test_alertmanager_delivery_key_tells_a_repeat_from_a_refire():
    def payload(status="firing", starts="2024-05-01T10:00:00Z"):
        alert = {"status": status, "fingerprint": "f", "startsAt": starts, "labels": {}}
        return {"groupKey": "g", "alerts": [alert]}

    key = alertmanager.delivery_key(payload())
    assert key.startswith("am:") and key == alertmanager.delivery_key(payload())
    assert key != alertmanager.delivery_key(payload("resolved"))
    assert key != alertmanager.delivery_key(payload(starts="2024-05-01T11:00:00Z"))
    assert alertmanager.delivery_key({"alerts": "x"}) == ""


def test_alertmanager_events_use_the_rules():
    payload = {
        "version": "4",
        "groupKey": "g",
        "alerts": [
            {
                "status": "firing",
                "labels": {"app": "web", "metric": "regional_loss"},
                "annotations": {"loss": "40%"},
                "fingerprint": "f1",
            },
            {"status": "resolved", "labels": {}, "fingerprint": "f2"},
            {"status": "weird", "fingerprint": "f3"},
        ],
    }
    rules = {"service_label": "app", "value_annotation": "loss", "services": {"web": "shop"}}
    fire, resolve, odd = alertmanager.events(payload, rules)
    assert (fire.service, fire.metric, fire.value, fire.external_id) == (
        "shop",
        "regional_loss",
        40,
        "f1",
    )
    assert resolve.action == RESOLVE and not resolve.note
    assert odd.action == NOTE
    (unlabelled,) = alertmanager.events({"alerts": [{"status": "firing"}]}, {})
    assert unlabelled.note == "no `service` label"
    assert unlabelled.external_id.startswith("labels:")


def test_opsgenie_events_and_key():
    payload = {"action": "Create", "alert": {"alertId": "A", "details": {"service": "shop"}}}
    assert opsgenie.delivery_key(payload) == "og:A:Create"
    (fire,) = opsgenie.events(payload, {"metric": "error_rate", "value": 7})
    assert (fire.action, fire.service, fire.metric, fire.value) == (FIRE, "shop", "error_rate", 7)
    (ack,) = opsgenie.events({**payload, "action": "Acknowledge"}, {})
    assert ack.action == NOTE
    with pytest.raises(BadPayload):
        opsgenie.events({"action": "Create"}, {})


@pytest.mark.parametrize(
    "raw, expected",
    [("12.5", 12.5), (3, 3.0), ("7%", 7.0), ("nan", None), ("1e999", None), (True, None)],
)
def test_number(raw, expected):
    assert number(raw) == expected
