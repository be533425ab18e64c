"""Retention: old webhook bodies emptied once processed, old idempotency keys forgotten, one
audited run at a time, in batches; the audit log itself is never pruned."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.models import IdempotencyKey
from audit.models import AuditEvent
from audit.verify import verify_chain
from failover import retention
from failover.intake.models import Delivery
from failover.models import FailoverRequest
from tests.factories import make_service, user
from tests.intake.conftest import let_declare, make_integration, post, process_all
from tests.tokens import personal_token

pytestmark = pytest.mark.django_db
DECLARE = {"service": "shop", "target": "failover", "reason": "down", "incident_ref": "INC-1"}


@pytest.fixture
def shop(db):
    return make_service("shop")


@pytest.fixture
def webhook(client, shop):
    """-> send(n): one distinct Alertmanager delivery through the webhook door; its pk."""
    _, secret = make_integration("alertmanager")
    let_declare(shop)

    def send(n: int) -> int:
        labels = {"alertname": f"A{n}", "service": "shop", "metric": "error_rate"}
        alert = {"status": "firing", "labels": labels, "annotations": {"value": "1.0"}}
        payload = {"version": "4", "groupKey": f"g{n}", "status": "firing", "alerts": [alert]}
        answer = post(client, "alertmanager", payload, HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert answer.status_code == 202, answer.content
        return Delivery.objects.latest("pk").pk

    return send


def age(model, pks, **delta):
    field = "received_at" if model is Delivery else "created_at"
    model.objects.filter(pk__in=pks).update(**{field: timezone.now() - timedelta(**delta)})


def events():
    return list(AuditEvent.objects.filter(action="retention.purged").order_by("seq"))


def test_old_finished_bodies_are_emptied_and_say_so(webhook):
    old, recent = webhook(1), webhook(2)
    process_all()
    waiting = webhook(3)  # never processed: its body is the work still to do
    age(Delivery, [old, waiting], days=31)
    age(Delivery, [recent], days=29)
    before = Delivery.objects.get(pk=old)
    assert before.status == "processed" and before.body, before.outcome

    done = retention.purge()

    assert (done.bodies, done.idempotency_keys, done.more) == (1, 0, False)
    purged = Delivery.objects.get(pk=old)
    assert purged.body == "" and purged.status == "processed"
    assert purged.headers == before.headers and purged.received_at == before.received_at
    assert purged.outcome.startswith(before.outcome) and "body purged" in purged.outcome
    assert Delivery.objects.get(pk=recent).body
    assert Delivery.objects.get(pk=waiting).body and Delivery.objects.get(pk=waiting).status == (
        "received"
    )
    # The hash of what was received stays in the receipt event.
    receipt = AuditEvent.objects.get(action="intake.delivery_received", object_id=str(old))
    assert len(receipt.data["body_sha256"]) == 64
    # A second run finds nothing more: the marker is not purged twice.
    assert retention.purge().bodies == 0
    assert Delivery.objects.get(pk=old).outcome == purged.outcome


@override_settings(DELIVERY_BODY_RETENTION_DAYS=2)
def test_the_window_comes_from_settings(webhook):
    pk = webhook(1)
    process_all()
    age(Delivery, [pk], days=3)
    assert retention.purge().bodies == 1


def test_idempotency_keys_past_the_window_are_forgotten(shop):
    _, plain = personal_token(user("declarer"), name="t")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")

    def declare(key):
        return api.post(
            "/api/v1/failover-requests/", DECLARE, format="json", HTTP_IDEMPOTENCY_KEY=key
        )

    first = declare("old")
    assert first.status_code == 201
    api.post(f"/api/v1/failover-requests/{first.json()['id']}/cancel/", HTTP_IDEMPOTENCY_KEY="new")
    assert declare("old")["Idempotent-Replayed"] == "true"
    age(IdempotencyKey, IdempotencyKey.objects.filter(key="old").values("pk"), hours=49)
    age(IdempotencyKey, IdempotencyKey.objects.filter(key="new").values("pk"), hours=47)

    done = retention.purge()

    assert done.idempotency_keys == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    again = declare("old")  # the same key and body after the purge: simply a new request
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert again.json()["id"] != first.json()["id"] and FailoverRequest.objects.count() == 2


def test_one_audit_event_per_run_with_counts_and_cutoffs_and_the_chain_verifies(webhook):
    pks = [webhook(n) for n in range(3)]
    process_all()
    age(Delivery, pks, days=40)
    IdempotencyKey.objects.create(
        user=user("someone"), key="k", method="POST", path="/x", body_hash="0" * 64
    )
    age(IdempotencyKey, IdempotencyKey.objects.values("pk"), days=3)
    before = AuditEvent.objects.count()

    done = retention.purge()

    assert AuditEvent.objects.count() == before + 1
    [event] = events()
    assert event.actor == "system" and event.object_type == "retention"
    assert event.data["delivery_bodies"] == 3 and event.data["idempotency_keys"] == 1
    assert event.data["delivery_body_cutoff"] == done.body_cutoff.isoformat()
    assert event.data["idempotency_cutoff"] == done.idempotency_cutoff.isoformat()
    assert event.data["more"] is False
    retention.purge()  # nothing left: still one event, saying so
    assert [e.data["delivery_bodies"] for e in events()] == [3, 0]
    result = verify_chain()
    assert result.ok, result.reason


def test_batches_and_a_capped_run_leave_the_rest_for_the_next(webhook):
    pks = [webhook(n) for n in range(5)]
    process_all()
    age(Delivery, pks, days=40)

    first = retention.purge(batch=2, limit=3)
    assert (first.bodies, first.more) == (3, True)
    assert Delivery.objects.filter(pk__in=pks, body="").count() == 3
    second = retention.purge(batch=2, limit=3)
    assert (second.bodies, second.more) == (2, False)
    assert [(e.data["delivery_bodies"], e.data["more"]) for e in events()] == [
        (3, True),
        (2, False),
    ]


def test_dry_run_counts_and_changes_nothing(webhook, capsys):
    pks = [webhook(n) for n in range(2)]
    process_all()
    age(Delivery, pks, days=40)
    bodies = dict(Delivery.objects.values_list("pk", "body"))
    audit = AuditEvent.objects.count()

    call_command("purge_retention", "--dry-run")

    assert "would purge 2 delivery bodies" in capsys.readouterr().out
    assert dict(Delivery.objects.values_list("pk", "body")) == bodies
    assert AuditEvent.objects.count() == audit

    call_command("purge_retention")
    out = capsys.readouterr().out
    assert "purged 2 delivery bodies" in out and "0 idempotency keys" in out
    assert not Delivery.objects.exclude(body="").exists() and len(events()) == 1
