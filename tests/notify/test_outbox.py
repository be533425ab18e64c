"""Which events write which notifications: subscribed endpoints of the request's service only,
in the transaction of the change they report."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import Decision
from approvals.services import expire_stale_requests, record_decision
from audit.services import record_event
from failover.models import FailoverRequest
from failover.notify import receivers, services
from failover.notify.models import Notification, NotificationEndpoint
from failover.services import declare_request, lock_request, transition
from tests.factories import make_service, user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_BASE_URL = "https://failover.example.test"


def declare(service):
    return declare_request(
        actor=user("declarer"),
        service=service,
        target="failover",
        reason="eu-west-1 down",
        incident_ref="INC-1",
    )


def approve(request):
    for who, role in (("avail", "availability"), ("identity", "identity")):
        record_decision(
            actor=user(who),
            request_id=request.pk,
            kind="approve",
            role=role,
            plan_hash=request.plan_hash,
        )


def sent(endpoint):
    return list(
        Notification.objects.filter(endpoint=endpoint)
        .order_by("pk")
        .values_list("event", flat=True)
    )


def body(endpoint, event):
    return Notification.objects.get(endpoint=endpoint, event=event).payload["body"]


def test_declaring_notifies_subscribed_active_endpoints_of_that_service_only(endpoint):
    service = make_service()
    other = make_service("elsewhere")
    every = endpoint(service, "every")
    vetoes = endpoint(service, "vetoes", events=["vetoed"])
    off = endpoint(service, "off", active=False)
    foreign = endpoint(other, "foreign")
    request = declare(service)
    assert sent(every) == ["declared", "approval_missing"]
    assert sent(vetoes) == sent(off) == sent(foreign) == []
    row = Notification.objects.get(endpoint=every, event="declared")
    assert row.request == request and row.status == "queued" and row.attempts == 0
    # Due at once; the payload is the body posted and nothing else.
    assert row.next_attempt_at is not None and row.next_attempt_at <= timezone.now()
    assert set(row.payload) == {"body"} and row.payload["body"]["event"] == "declared"


def test_approval_missing_says_which_roles_and_who_can_give_them(endpoint):
    service = make_service()  # the failover target changes the identity provider
    every = endpoint(service, "every")
    request = declare(service)
    b = body(every, "approval_missing")
    missing = {m["role"]: m["holders"] for m in b["request"]["missing"]}
    assert missing == {
        "availability": ["avail", "avail2"],
        "identity": ["identity", "identity2"],
        "incident_response": ["ir"],
    }
    assert b["url"] == f"https://failover.example.test/requests/{request.pk}/?action=approve"
    assert b["request"]["plan_hash"] == request.plan_hash
    assert b["request"]["incident_ref"] == "INC-1" and b["actor"] == "declarer"
    declared = body(every, "declared")
    assert declared["url"] == f"https://failover.example.test/requests/{request.pk}/"
    assert declared["request"]["state"] == "pending"


def test_whoever_already_counts_for_a_role_is_not_asked_for_another(endpoint):
    chain = {
        "declare": ["declarer"],
        "approve_availability": ["lead"],
        "approve_identity": ["lead", "identity"],
        "veto": ["vetoer"],
        "execute": ["executor"],
        "rollback": ["rollbacker"],
    }
    service = make_service(auth_change=False, chain=chain)
    every = endpoint(service, "every")
    request = declare(service)
    first = {m["role"]: m["holders"] for m in body(every, "approval_missing")["request"]["missing"]}
    assert first == {"availability": ["lead"], "identity": ["identity", "lead"]}
    record_decision(
        actor=user("lead"),
        request_id=request.pk,
        kind="approve",
        role="availability",
        plan_hash=request.plan_hash,
    )
    # Force a second approval_missing (as a lapse back to pending would send).
    with transaction.atomic():
        record_event(
            action="request.state_changed",
            obj=lock_request(request.pk),
            actor=None,
            data={"from": "approved", "to": "pending", "reason": "approvals expired"},
        )
    latest = Notification.objects.filter(endpoint=every, event="approval_missing").latest("pk")
    missing = {m["role"]: m["holders"] for m in latest.payload["body"]["request"]["missing"]}
    assert missing == {"identity": ["identity"]}


def test_a_veto_notifies_with_its_reason(endpoint):
    service = make_service()
    every = endpoint(service, "every")
    vetoes = endpoint(service, "vetoes", events=["vetoed"])
    request = declare(service)
    record_decision(
        actor=user("vetoer"), request_id=request.pk, kind="veto", comment="US cert chain untested"
    )
    assert sent(vetoes) == ["vetoed"]
    b = body(every, "vetoed")
    assert b["details"]["comment"] == "US cert chain untested"
    assert b["actor"] == "vetoer"
    assert "vetoed by vetoer: US cert chain untested" in b["request"]["blocked_by"]
    assert "vetoed by vetoer: US cert chain untested" in b["summary"]


def test_approved_then_lapsed_approvals_notify_again(endpoint):
    service = make_service(auth_change=False)
    every = endpoint(service, "every")
    request = declare(service)
    approve(request)
    assert sent(every) == ["declared", "approval_missing", "approved"]
    assert body(every, "approved")["request"]["missing"] == []
    Decision.objects.filter(request=request).update(created_at=timezone.now() - timedelta(hours=2))
    assert expire_stale_requests()["lapsed"] == 1
    assert sent(every)[3:] == ["approval_missing"]
    lapsed = Notification.objects.filter(endpoint=every, event="approval_missing").latest("pk")
    assert {m["role"] for m in lapsed.payload["body"]["request"]["missing"]} == {
        "availability",
        "identity",
    }
    assert lapsed.payload["body"]["details"]["reason"] == "approvals expired"


def test_execution_outcomes_and_rollback_notify(endpoint):
    service = make_service(auth_change=False)
    every = endpoint(service, "every")
    request = declare(service)
    approve(request)
    with transaction.atomic():
        locked = lock_request(request.pk)
        transition(locked, "executing", actor=None, reason="executed")
        transition(locked, "applied", actor=None, reason="every change verified")
        record_event(
            action="rollback.proposed",
            obj=locked,
            actor=None,
            data={"notify": ["rollbacker"], "criteria": {}},
        )
        transition(locked, "rolling_back", actor=user("rollbacker"), reason="primary is back")
        transition(locked, "failed", actor=None, reason="example.test.: SERVFAIL")
    assert sent(every)[3:] == ["applied", "rollback_due", "failed"]
    due = body(every, "rollback_due")
    assert due["details"]["trigger"] == "criteria_met"
    assert due["details"]["rollback_holders"] == ["rollbacker"]
    assert due["url"].endswith("?action=rollback")
    assert due["request"]["missing"] == [] and due["request"]["blocked_by"] == []
    assert body(every, "failed")["details"]["reason"] == "example.test.: SERVFAIL"


def test_a_slack_endpoint_stores_the_slack_message(endpoint):
    service = make_service()
    slack = endpoint(service, "chat", fmt="slack", events=["declared"])
    declare(service)
    b = body(slack, "declared")
    assert set(b) == {"text", "blocks"} and "declared by declarer" in b["text"]


def test_notifications_roll_back_with_the_change_they_report(endpoint):
    service = make_service()
    endpoint(service, "every")
    with pytest.raises(RuntimeError), transaction.atomic():
        declare(service)
        raise RuntimeError("the declaring transaction fails later on")
    assert not Notification.objects.exists()


def test_a_broken_notification_never_undoes_the_failover_decision(endpoint, monkeypatch):
    service = make_service()
    endpoint(service, "every")

    def broken(*args):
        raise RuntimeError("bug in notifications")

    monkeypatch.setattr(receivers, "queue_notifications", broken)
    request = declare(service)
    assert FailoverRequest.objects.filter(pk=request.pk).exists()
    assert not Notification.objects.exists()


def test_a_database_error_writing_notifications_never_undoes_the_decision(endpoint, monkeypatch):
    """What notifying writes fails in the database (here: a table that is not there), as
    a constraint or a full disk would: the veto commits, without its notification."""
    service = make_service()
    endpoint(service, "every")
    request = declare(service)
    before = Notification.objects.count()

    def failing(rows):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table_here")

    monkeypatch.setattr(services.Notification.objects, "bulk_create", failing)
    record_decision(actor=user("vetoer"), request_id=request.pk, kind="veto", comment="no")
    assert Decision.objects.filter(request=request, kind="veto").count() == 1
    assert Notification.objects.count() == before


@pytest.mark.django_db(transaction=True)  # the decision's transaction, not a savepoint in one
def test_a_veto_nobody_listens_to_opens_no_savepoint():
    """Most services have no endpoint: who listens is read, and nothing more is asked inside
    the decision (a savepoint is two round trips while it holds the audit chain's head)."""
    request = declare(make_service())
    with CaptureQueriesContext(connection) as seen:
        record_decision(actor=user("vetoer"), request_id=request.pk, kind="veto", comment="no")
    statements = [q["sql"] for q in seen.captured_queries]
    table = NotificationEndpoint._meta.db_table
    assert sum(table in sql for sql in statements) == 1
    assert not [sql for sql in statements if "SAVEPOINT" in sql.upper()]


def test_sending_is_enqueued_after_commit(
    endpoint, monkeypatch, django_capture_on_commit_callbacks
):
    service = make_service()
    endpoint(service, "every")
    calls = []
    monkeypatch.setattr(
        "failover.dispatch.send_now", lambda task, *args, **kw: calls.append((task, *args))
    )
    with django_capture_on_commit_callbacks(execute=True):
        declare(service)
        assert calls == []
    ids = sorted(Notification.objects.values_list("pk", flat=True))
    sent = sorted(call for call in calls if call[0] == services.SEND_TASK)
    assert sent == [(services.SEND_TASK, pk) for pk in ids]


def test_an_event_without_endpoints_costs_one_query(django_assert_num_queries):
    service = make_service()
    request = declare(service)
    event = type("Event", (), {"object_id": str(request.pk)})()
    with django_assert_num_queries(1):
        assert services.queue_notifications(event, ("declared",)) == []
