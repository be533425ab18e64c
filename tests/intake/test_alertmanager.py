"""Alertmanager webhooks: credentials, alerts -> signals, resolution, deduplication, and a
breaching alert opening (or joining) a failover request."""

import pytest

from approvals.selectors import verdict_for
from audit.models import AuditEvent
from failover.intake.models import Delivery
from failover.models import FailoverRequest, Signal
from failover.services import grant_authority
from tests.factories import make_service, user
from tests.intake.conftest import basic, let_declare, make_integration, post, process_all

pytestmark = pytest.mark.django_db


def alert(status="firing", *, service="shop", metric="error_rate", value="12.5", fp="fp1"):
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "service": service, "metric": metric},
        "annotations": {"value": value, "summary": f"{service} error rate {value}%"},
        "startsAt": "2024-05-01T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2024-05-01T10:05:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fp,
    }


def notification(*alerts, group='{}:{service="shop"}'):
    return {
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
        "status": alerts[0]["status"] if alerts else "firing",
        "receiver": "failover",
        "groupLabels": {"service": "shop"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


@pytest.fixture
def am(shop):
    return make_integration("alertmanager")


def send(client, secret, *alerts, **kwargs):
    return post(client, "alertmanager", notification(*alerts), HTTP_AUTHORIZATION=secret, **kwargs)


def test_bearer_and_basic_credentials_are_accepted(client, am):
    _, secret = am
    assert send(client, f"Bearer {secret}", alert()).status_code == 202
    assert send(client, basic(secret), alert(fp="fp2")).status_code == 202
    assert Delivery.objects.count() == 2
    assert all("Authorization" not in d.headers for d in Delivery.objects.all())


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer wrong-secret-0123456789", "Basic !!!", "Token {s}", "{s}", "Basic {b}"],
)
def test_wrong_credentials_are_refused_and_nothing_is_stored(client, am, authorization):
    _, secret = am
    header = authorization.format(s=secret, b=basic("wrong")[6:])
    response = send(client, header, alert())
    assert response.status_code == 401
    assert response["WWW-Authenticate"]
    assert set(response.json()["error"]) >= {"code", "message"}
    assert not Delivery.objects.exists()


def test_the_secret_is_stored_hashed(am):
    integration, secret = am
    assert secret not in str(integration.secrets) and "sha256" in integration.secrets[0]


def test_firing_then_resolved(client, am, shop):
    _, secret = am
    send(client, f"Bearer {secret}", alert(value="3"))  # below the 5% threshold
    process_all()
    signal = Signal.objects.get()
    assert (signal.service, signal.metric, signal.value, signal.status) == (
        shop,
        "error_rate",
        3.0,
        "firing",
    )
    assert signal.external_id == "fp1" and signal.source == "alertmanager"
    assert not FailoverRequest.objects.exists()

    send(client, f"Bearer {secret}", alert("resolved", value="3"))
    process_all()
    signal.refresh_from_db()
    assert signal.status == "resolved" and signal.resolved_at is not None
    assert Delivery.objects.filter(status="processed").count() == 2


def test_a_repeated_notification_is_deduplicated(client, am):
    _, secret = am
    for _ in range(2):
        assert send(client, f"Bearer {secret}", alert(value="1")).json()["status"] in (
            "received",
            "duplicate",
        )
    # The same alert inside a different notification (another alert joined the group).
    send(client, f"Bearer {secret}", alert(value="1"), alert(fp="fp2", value="2"))
    process_all()
    assert Signal.objects.count() == 2
    statuses = list(Delivery.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == ["processed", "duplicate", "processed"]
    last = Delivery.objects.order_by("pk").last()
    assert "fp1: already firing; duplicate" in last.outcome

    # A resolution sent twice resolves once.
    for _ in range(2):
        send(client, f"Bearer {secret}", alert("resolved", value="1"))
    process_all()
    assert Signal.objects.get(external_id="fp1").status == "resolved"
    assert AuditEvent.objects.filter(action="signal.resolved").count() == 1


def test_a_breach_on_a_preapproved_service_opens_a_pre_approved_request(client, am, shop):
    _, secret = am
    send(client, f"Bearer {secret}", alert(value="12.5"))
    process_all()
    signal = Signal.objects.get()
    request = FailoverRequest.objects.get()
    assert request.state == "pending"
    assert request.origin_signal == signal
    assert request.requester.username == "pager-bot"
    assert request.to_target.name == "failover"
    verdict = verdict_for(request)
    assert verdict.preapproved and verdict.breach.signal_id == signal.pk
    assert verdict.may_execute and verdict.requester_may_execute_alone
    declared = AuditEvent.objects.get(action="request.declared")
    assert declared.data["origin_signal"] == signal.pk
    assert declared.actor == "pager-bot"
    assert f"failover request #{request.pk}" in Delivery.objects.get().outcome


def test_a_breach_on_a_dual_approval_service_opens_a_request_needing_approvals(client, db):
    service = make_service("vault", thresholds=(("error_rate", "gte", 5.0),))
    let_declare(service)
    _, secret = make_integration("alertmanager", services=["vault"])
    send(client, f"Bearer {secret}", alert(service="vault", value="50"))
    process_all()
    request = FailoverRequest.objects.get()
    assert request.state == "pending" and request.origin_signal is not None
    verdict = verdict_for(request)
    assert not verdict.preapproved and not verdict.may_execute
    assert {m.role for m in verdict.missing} >= {"availability", "identity"}
    assert "needs the usual approvals" in Delivery.objects.get().outcome


def test_a_second_breach_links_to_the_active_request(client, am):
    _, secret = am
    send(client, f"Bearer {secret}", alert(value="12.5"))
    send(client, f"Bearer {secret}", alert(fp="fp2", metric="error_rate", value="40"))
    process_all()
    request = FailoverRequest.objects.get()
    second = Signal.objects.get(external_id="fp2")
    linked = AuditEvent.objects.get(action="signal.linked")
    assert linked.object_id == str(request.pk) and linked.data["signal"] == second.pk
    assert f"linked to the active failover request #{request.pk}" in (
        Delivery.objects.order_by("pk").last().outcome
    )


def test_without_declare_authority_the_signal_is_refused_and_nothing_is_made(client, db):
    make_service("shop", mode="preapproved_thresholds", thresholds=(("error_rate", "gte", 5),))
    _, secret = make_integration("alertmanager")  # allowed to feed shop, but cannot declare
    send(client, f"Bearer {secret}", alert(value="90"))
    process_all()
    assert not Signal.objects.exists() and not FailoverRequest.objects.exists()
    delivery = Delivery.objects.get()
    assert delivery.status == "refused"
    assert "'pager-bot' does not hold the 'declare' authority on service 'shop'" in (
        delivery.outcome
    )


def test_rules_map_labels_service_names_targets_and_the_value_annotation(client, db):
    service = make_service(
        "checkout", mode="preapproved_thresholds", thresholds=(("regional_loss", "gte", 30),)
    )
    grant_authority(actor=None, service=service, authority="declare", user=user("am-bot"))
    rules = {
        "services": {"checkout-prod": "checkout"},
        "service_label": "app",
        "value_annotation": "loss",
        "targets": {"checkout": "failover"},
    }
    _, secret = make_integration(
        "alertmanager", "am-prod", rules=rules, account="am-bot", services=["checkout"]
    )
    payload = alert(metric="regional_loss")
    payload["labels"]["app"] = "checkout-prod"
    payload["annotations"]["loss"] = "45"
    send(client, f"Bearer {secret}", payload, query="?integration=am-prod")
    process_all()
    signal = Signal.objects.get()
    assert (signal.service.slug, signal.metric, signal.value) == ("checkout", "regional_loss", 45)
    assert FailoverRequest.objects.get().to_target.name == "failover"


def test_unknown_service_or_metric_fails_the_alert_with_the_reason(client, am):
    _, secret = am
    send(
        client,
        f"Bearer {secret}",
        alert(service="nope"),
        alert(fp="fp2", metric="latency"),
        alert(fp="fp3", value="n/a"),
    )
    process_all()
    delivery = Delivery.objects.get()
    assert delivery.status == "refused"  # nothing changed, and one alert was refused
    assert "service 'nope' is not on the allow-list of integration 'alertmanager'" in (
        delivery.outcome
    )
    assert "unknown metric 'latency'" in delivery.outcome
    assert "no numeric value" in delivery.outcome
    assert not Signal.objects.exists()


def test_integrations_of_one_kind_are_selected_by_name(client, am):
    _, first = am
    _, second = make_integration("alertmanager", "am-2")
    assert send(client, f"Bearer {first}", alert()).status_code == 401  # which one?
    ok = send(client, f"Bearer {second}", alert(), query="?integration=am-2")
    assert ok.status_code == 202
    wrong = send(client, f"Bearer {first}", alert(), query="?integration=am-2")
    assert wrong.status_code == 401
    assert send(client, f"Bearer {first}", alert(), query="?integration=nope").status_code == 401
    assert Delivery.objects.get().integration.name == "am-2"


def test_the_incident_commander_executes_the_opened_request_alone_while_the_breach_stands(
    client, am, shop
):
    from approvals.execution import execute_request
    from failover.errors import NotAuthorised

    _, secret = am
    send(client, f"Bearer {secret}", alert(value="12.5"))
    process_all()
    request = FailoverRequest.objects.get()
    # Once the alert resolves the breach no longer stands: no executing alone.
    send(client, f"Bearer {secret}", alert("resolved", value="12.5"))
    process_all()
    with pytest.raises(NotAuthorised):
        execute_request(actor=user("declarer"), request_id=request.pk)
    # It fires again (a new occurrence): the commander, who holds `declare`, may execute.
    refire = alert(value="20")
    refire["startsAt"] = "2024-05-01T11:00:00Z"
    send(client, f"Bearer {secret}", refire)
    process_all()
    assert "linked to the active failover request" in Delivery.objects.order_by("pk").last().outcome
    execute_request(actor=user("declarer"), request_id=request.pk)
    request.refresh_from_db()
    assert request.state == "executing"
