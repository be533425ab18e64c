"""Replays (DESIGN invariant 15) and what a refused caller learns, through the webhook doors.

PagerDuty signs the body only (X-PagerDuty-Signature: v1=HMAC-SHA256(secret, body)), so the
signed event time bounds a replay and the signed content, not the X-Webhook-Id header, says
whether a delivery was seen before. Opsgenie and Alertmanager send a shared secret and sign
nothing: whoever holds the secret can write any time they like, so there is no window to
check; their deliveries are deduplicated by content (alert id and action; group, fingerprints,
status and start) and never by a header."""

import json

import pytest

from audit.models import AuditEvent
from failover.intake.models import Delivery
from failover.models import FailoverRequest, Signal
from failover.services import cancel_request, resolve_signal
from tests.factories import user
from tests.intake.conftest import make_integration, pd_time, post, process_all, sign
from tests.intake.test_opsgenie import action
from tests.intake.test_pagerduty import RULES, incident

pytestmark = pytest.mark.django_db

TWO_YEARS = 2 * 365 * 24 * 3600


@pytest.fixture
def pd(shop):
    _, secret = make_integration("pagerduty", rules=RULES)
    return secret


def deliver(client, secret, *, body=None, webhook_id="wh-1", **payload_args):
    """As PagerDuty sends it: the raw body, signed with the subscription's secret."""
    body = body if body is not None else json.dumps(incident(**payload_args)).encode()
    return post(
        client,
        "pagerduty",
        None,
        body=body,
        HTTP_X_PAGERDUTY_SIGNATURE=sign(body, secret),
        HTTP_X_WEBHOOK_ID=webhook_id,
    )


def nothing_processed():
    assert process_all() == []
    assert not Signal.objects.exists() and not FailoverRequest.objects.exists()


@pytest.mark.parametrize(
    "delta, why",
    [
        (-TWO_YEARS, "ago (INTAKE_REPLAY_WINDOW_SECONDS)"),
        (3600, "in the future"),
    ],
)
def test_a_validly_signed_event_outside_the_window_is_recorded_not_processed(
    client, pd, delta, why
):
    response = deliver(client, pd, occurred_at=pd_time(delta))
    assert response.status_code == 202  # a 4xx would count towards PagerDuty disabling us
    delivery = Delivery.objects.get()
    assert response.json() == {"delivery": delivery.pk, "status": "refused"}
    assert delivery.status == "refused" and why in delivery.outcome
    assert delivery.body == "" and delivery.external_id == ""
    nothing_processed()
    receipt = AuditEvent.objects.get(action="intake.delivery_received")
    assert receipt.data["status"] == "refused" and why in receipt.data["reason"]


def test_pagerdutys_own_retries_inside_the_window_are_accepted(client, pd):
    """PagerDuty retries a failing delivery for about 20 minutes: a retry 19 minutes after the
    event (the first attempts answered 5xx) still opens the request."""
    response = deliver(client, pd, occurred_at=pd_time(-19 * 60))
    assert response.json()["status"] == "received"
    process_all()
    assert Signal.objects.count() == 1 and FailoverRequest.objects.count() == 1


def test_the_window_is_a_setting(client, pd, settings):
    settings.INTAKE_REPLAY_WINDOW_SECONDS = 300
    assert deliver(client, pd, occurred_at=pd_time(-240)).json()["status"] == "received"
    stale = deliver(client, pd, incident_id="Q2", occurred_at=pd_time(-400), webhook_id="wh-2")
    assert stale.json()["status"] == "refused"
    assert "more than 300 s ago" in Delivery.objects.get(status="refused").outcome


@pytest.mark.parametrize("occurred_at", [None, "", "yesterday", "2030-01-01T00:00:00", 17])
def test_without_a_signed_event_time_with_a_zone_nothing_is_processed(client, pd, occurred_at):
    payload = incident()
    payload["event"]["occurred_at"] = occurred_at
    response = deliver(client, pd, body=json.dumps(payload).encode())
    assert response.json()["status"] == "refused"
    assert "no signed event time" in Delivery.objects.get().outcome
    nothing_processed()


def test_the_same_signed_body_under_a_new_webhook_id_opens_nothing(client, pd):
    """The issue's report: the dedupe key was X-Webhook-Id, which the signature does not
    cover; the same signed body under a new id opened a new pre-approved request."""
    body = json.dumps(incident()).encode()
    deliver(client, pd, body=body, webhook_id="wh-original")
    process_all()
    first = FailoverRequest.objects.get()
    # The incident is over and the request cancelled; then someone replays the trigger.
    cancel_request(actor=user("declarer"), request_id=first.pk, reason="resolved")
    resolve_signal(signal_id=Signal.objects.get().pk)
    replay = deliver(client, pd, body=body, webhook_id="wh-forged-new-id")
    assert replay.status_code == 202 and replay.json()["status"] == "duplicate"
    process_all()
    assert FailoverRequest.objects.count() == 1
    assert Signal.objects.get().status == "resolved"


def test_without_an_event_id_the_signed_body_itself_deduplicates(client, pd):
    payload = incident()
    del payload["event"]["id"]
    body = json.dumps(payload).encode()
    assert deliver(client, pd, body=body, webhook_id="a").json()["status"] == "received"
    assert deliver(client, pd, body=body, webhook_id="b").json()["status"] == "duplicate"
    assert Delivery.objects.filter(external_id__startswith="pd:sha256:").count() == 1


@pytest.mark.parametrize("kind", ["opsgenie", "alertmanager"])
def test_shared_secret_tools_deduplicate_by_content_not_by_headers(client, shop, kind):
    _, secret = make_integration(kind)
    payload = (
        action("Create")
        if kind == "opsgenie"
        else {
            "version": "4",
            "groupKey": "g",
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
    )
    auth = (
        {"HTTP_X_FAILOVER_SECRET": secret}
        if kind == "opsgenie"
        else {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    )
    statuses = [
        post(
            client, kind, payload, HTTP_X_WEBHOOK_ID=f"id-{n}", HTTP_X_REQUEST_ID=f"r{n}", **auth
        ).json()["status"]
        for n in range(2)
    ]
    assert statuses == ["received", "duplicate"]
    process_all()
    assert Signal.objects.count() == 1 and FailoverRequest.objects.count() == 1


# --- a refused caller learns nothing about which integrations exist ---


@pytest.mark.parametrize("kind", ["alertmanager", "opsgenie", "pagerduty"])
def test_every_credential_refusal_is_the_same_answer(client, shop, kind):
    body = b'{"alerts": []}'

    def send(query="", secret="wrong-secret-0123456789"):
        header = {
            "alertmanager": {"HTTP_AUTHORIZATION": f"Bearer {secret}"},
            "opsgenie": {"HTTP_X_FAILOVER_SECRET": secret},
            "pagerduty": {"HTTP_X_PAGERDUTY_SIGNATURE": sign(body, secret)},
        }[kind]
        return post(client, kind, None, body=body, query=query, **header)

    answers = [send()]  # none of this kind configured
    _, secret = make_integration(kind, f"{kind}-1")
    answers += [
        send("?integration=nope", secret),  # no such name (with a real secret)
        send(f"?integration={kind}-1"),  # a real name, a wrong secret
        send(),  # the only one, a wrong secret
    ]
    make_integration(kind, f"{kind}-2")
    answers.append(send("", secret))  # a right secret, but which integration?
    assert {a.status_code for a in answers} == {401}
    bodies = {a.content for a in answers}
    assert len(bodies) == 1, bodies
    message = json.loads(bodies.pop())["error"]["message"]
    assert f"{kind}-1" not in message and "nope" not in message and "several" not in message
    assert not Delivery.objects.exists()
