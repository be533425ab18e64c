"""Sending: signed bodies, retries with backoff, the attempt cap, no double POST, the sweep."""

import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from failover.notify import payloads, services
from failover.notify.models import Notification
from failover.secrets import encrypt
from failover.services import declare_request
from tests.factories import make_service, user
from tests.notify.conftest import SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture
def retries(monkeypatch):
    """The re-enqueues the service asks for (the test broker would drop them)."""
    calls = []
    monkeypatch.setattr(
        services, "send_now", lambda task, *args, countdown=None: calls.append((args, countdown))
    )
    return calls


def declare(service):
    return declare_request(
        actor=user("declarer"), service=service, target="failover", reason="eu-west-1 down"
    )


def queued(endpoint, event="declared"):
    return Notification.objects.get(endpoint=endpoint, event=event)


def later(minutes):
    return timezone.now() + timedelta(minutes=minutes)


def test_a_generic_body_is_signed_with_the_endpoint_secret(endpoint, hooks):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    request = declare(service)
    row = queued(ops)
    assert services.send_notification(row.pk) == "sent"
    [got] = hooks.requests
    headers = got["headers"]
    assert got["path"] == "/ops"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Failover-Event"] == "declared"
    assert headers["X-Failover-Delivery"] == str(row.pk)
    assert payloads.verify(
        SECRET, headers["X-Failover-Timestamp"], got["body"], headers["X-Failover-Signature"]
    )
    assert not payloads.verify(
        "wrong", headers["X-Failover-Timestamp"], got["body"], headers["X-Failover-Signature"]
    )
    b = json.loads(got["body"])
    assert b["event"] == "declared" and b["service"] == "shop"
    assert b["request"]["id"] == request.pk and b["request"]["to_target"] == "failover"
    assert SECRET not in got["body"].decode() and SECRET not in json.dumps(headers)
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None


def test_a_slack_body_has_text_and_blocks_and_no_signature(endpoint, hooks):
    service = make_service()
    chat = endpoint(service, "chat", fmt="slack", events=["approval_missing"])
    declare(service)
    assert services.send_notification(queued(chat, "approval_missing").pk) == "sent"
    b = hooks.json()
    assert "needs availability" in b["text"] and b["blocks"][0]["type"] == "section"
    assert "X-Failover-Signature" not in hooks.requests[0]["headers"]


def test_a_500_is_retried_with_backoff_and_then_sent(endpoint, hooks, retries):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    declare(service)
    row = queued(ops)
    hooks.fail_first = 1
    before = timezone.now()
    assert services.send_notification(row.pk) == "retrying"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("queued", 1, "HTTP 500: boom")
    [(args, countdown)] = retries
    assert args == (row.pk,) and 2.5 <= countdown <= 5
    # The retry time is the column (the end of the backoff), not something in the payload.
    wait = (row.next_attempt_at - before).total_seconds()
    assert countdown <= wait <= countdown + 5
    assert set(row.payload) == {"body"}
    # Delivered again before its backoff is over (a duplicate): nothing is posted.
    assert services.send_notification(row.pk) == "not_due"
    assert len(hooks.requests) == 1
    assert services.send_notification(row.pk, now=later(1)) == "sent"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")
    assert row.next_attempt_at is None  # nothing more to attempt
    assert [r["headers"]["X-Failover-Delivery"] for r in hooks.requests] == [str(row.pk)] * 2


def test_backoff_doubles_with_jitter_up_to_a_cap():
    for attempts, ceiling in ((1, 5), (2, 10), (3, 20), (6, 160), (7, 300), (20, 300)):
        delays = [services.backoff(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len({services.backoff(3) for _ in range(10)}) > 1


def test_a_permanent_failure_gives_up_after_the_attempt_cap(endpoint, hooks, retries):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    declare(service)
    row = queued(ops)
    hooks.fail_first = 100
    outcomes = [services.send_notification(row.pk, now=later(10 * i)) for i in range(10)]
    assert outcomes == ["retrying"] * 7 + ["failed", "failed", "failed"]
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("failed", 8, "HTTP 500: boom")
    assert len(hooks.requests) == services.MAX_ATTEMPTS == 8
    assert len(retries) == 7


def test_a_second_delivery_of_the_same_task_does_not_post_twice(endpoint, hooks, monkeypatch):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    declare(service)
    row = queued(ops)
    during = []
    real = services.deliver

    def deliver_while_redelivered(row, endpoint, now):
        during.append(services.send_notification(row.pk, now=now))  # mid-POST
        return real(row, endpoint, now)

    monkeypatch.setattr(services, "deliver", deliver_while_redelivered)
    assert services.send_notification(row.pk) == "sent"
    assert during == ["not_due"]
    assert services.send_notification(row.pk, now=later(60)) == "sent"  # after it finished
    assert len(hooks.requests) == 1


def test_of_two_workers_reading_the_same_row_one_claims_it(endpoint):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    declare(service)
    first, second = queued(ops), queued(ops)
    now = timezone.now()
    assert services.claim(first, now) is True
    assert services.claim(second, now) is False
    assert queued(ops).attempts == 1
    assert queued(ops).next_attempt_at == now + services.LEASE  # the lease


def test_nothing_is_sent_to_endpoints_of_another_service(endpoint, hooks):
    service, other = make_service(), make_service("elsewhere")
    endpoint(service, "mine")
    endpoint(other, "theirs")
    declare(service)
    for pk in Notification.objects.values_list("pk", flat=True):
        services.send_notification(pk)
    assert {r["path"] for r in hooks.requests} == {"/mine"}


def test_the_sweep_resends_notifications_whose_task_was_lost(endpoint, hooks, monkeypatch):
    service = make_service()
    endpoint(service, "ops")
    declare(service)  # the test broker drops the tasks: as if the broker had been down
    sent = []

    def run_now(task, pk, countdown=None):
        assert task == services.SEND_TASK
        sent.append(pk)
        services.send_notification(pk)
        return True

    monkeypatch.setattr(services, "send_now", run_now)
    assert services.sweep_notifications() == 0  # too recent to be presumed lost
    assert services.sweep_notifications(now=later(1)) == 2
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    assert sorted(r["headers"]["X-Failover-Event"] for r in hooks.requests) == [
        "approval_missing",
        "declared",
    ]
    assert services.sweep_notifications(now=later(5)) == 0
    assert len(sent) == 2


def test_the_sweep_leaves_attempts_in_flight_or_waiting_out_their_backoff(endpoint, monkeypatch):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    declare(service)
    row = queued(ops)
    monkeypatch.setattr(services, "send_now", lambda *a, **kw: True)
    assert services.claim(row, timezone.now())  # a worker is posting (its lease: 60 s)
    assert services.sweep_notifications(now=later(0.75)) == 0
    assert services.sweep_notifications(now=later(2)) == 1  # that worker died


def test_the_sweep_reads_the_next_attempt_time_in_one_indexed_query(
    endpoint, monkeypatch, django_assert_num_queries
):
    service = make_service()
    ops = endpoint(service, "ops")
    declare(service)
    declared, missing = queued(ops, "declared"), queued(ops, "approval_missing")
    long_ago = timezone.now() - timedelta(hours=1)
    # Created an hour ago but waiting out its backoff for another minute: not lost.
    Notification.objects.filter(pk=declared.pk).update(
        created_at=long_ago, next_attempt_at=later(1)
    )
    # Created just now but due two minutes ago (say, a clock step): lost.
    Notification.objects.filter(pk=missing.pk).update(next_attempt_at=later(-2))
    sent = []
    monkeypatch.setattr(services, "send_now", lambda task, pk, **kw: sent.append(pk) or True)
    with django_assert_num_queries(1) as queries:
        assert services.sweep_notifications() == 1
    assert sent == [missing.pk]
    sql = queries.captured_queries[0]["sql"]
    assert "next_attempt_at" in sql and "created_at" not in sql.split("ORDER BY")[0]
    # The query plan walks the (status, next_attempt_at) index.
    [index] = Notification._meta.indexes
    assert index.fields == ["status", "next_attempt_at"]
    lost = Notification.objects.filter(
        status="queued", next_attempt_at__lt=timezone.now()
    ).order_by("next_attempt_at")
    assert index.name in lost.explain()
    assert services.sweep_notifications(now=later(2)) == 2


def test_a_sent_or_failed_notification_is_never_swept(endpoint, hooks, monkeypatch):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    declare(service)
    assert services.send_notification(queued(ops).pk) == "sent"
    Notification.objects.update(next_attempt_at=later(-60))  # as if left behind
    monkeypatch.setattr(services, "send_now", lambda *a, **kw: True)
    assert services.sweep_notifications() == 0


def test_a_url_that_cannot_be_decrypted_is_reported_without_posting(endpoint, hooks, retries):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    declare(service)
    ops.url_encrypted = ops.url_encrypted[:-8] + "AAAAAAAA"  # corrupt, or the key changed
    ops.save()
    assert services.send_notification(queued(ops).pk) == "retrying"
    assert hooks.requests == []
    assert queued(ops).last_error == "the endpoint URL cannot be decrypted with the configured key"


def test_credentials_in_the_url_stay_out_of_errors(endpoint, retries, caplog):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    ops.set_url("http://hookuser:XXXXPASSWORDXXXX@127.0.0.1:1/XXXXSECRETXXXX")
    ops.save()
    declare(service)
    with caplog.at_level(logging.INFO):
        assert services.send_notification(queued(ops).pk) == "retrying"
    for text in (queued(ops).last_error, caplog.text):
        assert "XXXXPASSWORDXXXX" not in text and "XXXXSECRETXXXX" not in text
    assert "http://127.0.0.1:1" in caplog.text  # the host, for the operator


def test_a_worker_that_died_after_the_last_attempt_is_settled_without_posting(endpoint, hooks):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    declare(service)
    Notification.objects.filter(endpoint=ops).update(attempts=8)
    assert services.send_notification(queued(ops).pk) == "failed"
    assert hooks.requests == []
    assert queued(ops).last_error == "gave up after 8 attempts"


def test_a_deactivated_endpoint_gets_nothing(endpoint, hooks):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    declare(service)
    ops.active = False
    ops.save()
    assert services.send_notification(queued(ops).pk) == "failed"
    assert hooks.requests == []


def test_an_unusable_secret_is_reported_without_posting_or_revealing_it(endpoint, hooks, retries):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    declare(service)
    ops.secret = encrypt(SECRET)[:-8] + "AAAAAAAA"  # corrupt
    ops.save()
    assert services.send_notification(queued(ops).pk) == "retrying"
    assert hooks.requests == []
    assert "cannot be decrypted" in queued(ops).last_error
    assert SECRET not in queued(ops).last_error


def test_errors_and_logs_leave_out_the_endpoint_url_and_secret(endpoint, retries, caplog):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    ops.set_url("http://127.0.0.1:1/services/T0001/B0001/XXXXSECRETXXXX")
    ops.save()
    declare(service)
    with caplog.at_level(logging.INFO):
        assert services.send_notification(queued(ops).pk) == "retrying"
    error = queued(ops).last_error
    assert error.startswith("cannot connect")
    for text in (error, caplog.text):
        assert "XXXXSECRETXXXX" not in text and SECRET not in text


def test_a_redirect_is_a_failure_not_a_silent_get(endpoint, hooks, retries):
    service = make_service()
    ops = endpoint(service, "ops", events=["declared"])
    declare(service)
    hooks.fail_first, hooks.fail_status = 1, 302
    assert services.send_notification(queued(ops).pk) == "retrying"
    assert queued(ops).last_error.startswith("HTTP 302") and len(hooks.requests) == 1
