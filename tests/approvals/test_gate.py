"""Invariant 16: one function decides whether a change may go out now, and every door and the
worker (right before it submits) ask it. Each test makes a condition only that function knows
(the registry changed since the plan, an approver lost the authority after execution
started) and shows every door refusing."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from rest_framework.test import APIClient

from approvals.execution import execute_request
from approvals.gate import may_go_out
from approvals.services import record_decision
from dnsproviders.models import DnsChange
from failover.errors import Blocked
from failover.models import RecordValue
from failover.services import declare_request
from tests.factories import run_worker, user
from tests.tokens import personal_token

pytestmark = pytest.mark.django_db
PASSWORD = "gate-pw"


@pytest.fixture
def request_(service, people, zone_dir):
    for persona in ("executor", "ir"):
        people[persona].set_password(PASSWORD)
        people[persona].save()
    return declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu-west-1 down"
    )


def decide(request, persona, kind="approve", role="availability"):
    record_decision(
        actor=user(persona),
        request_id=request.pk,
        kind=kind,
        role=role,
        plan_hash=request.plan_hash,
    )


def approve_all(request):
    decide(request, "avail")
    decide(request, "identity", role="identity")
    decide(request, "ir", "sign_off", "incident_response")


def edit_the_registry(request):
    """Someone edits the failover target's record value in the admin after the approvals."""
    value = RecordValue.objects.get(record__service=request.service, target=request.to_target)
    value.values = ["203.0.113.99"]
    value.save()


def refused_by_every_door(request, client):
    reason = "registry changed"
    with pytest.raises(Blocked, match=reason):
        execute_request(actor=user("executor"), request_id=request.pk)

    client.force_login(user("executor"))
    page = client.post(
        f"/requests/{request.pk}/",
        {"kind": "execute", "plan_hash": request.plan_hash, "password": PASSWORD},
    )
    assert page.status_code == 409 and reason in page.content.decode()

    api = APIClient()
    _, token = personal_token(user("executor"), name="t")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    answer = api.post(f"/api/v1/failover-requests/{request.pk}/execute/")
    assert answer.status_code == 409 and reason in answer.json()["error"]["message"]

    with override_settings(DEBUG=True), pytest.raises(CommandError, match=reason):
        call_command("request", "execute", str(request.pk), "--as", "executor")

    request.refresh_from_db()
    assert request.state == "approved"
    assert not DnsChange.objects.filter(request=request).exists()


def test_a_registry_edit_after_approval_stops_every_door(client, request_):
    approve_all(request_)
    assert may_go_out(request_)
    edit_the_registry(request_)
    answer = may_go_out(request_)
    assert not answer and any("registry changed" in r for r in answer.reasons)
    refused_by_every_door(request_, client)


def test_the_last_approval_does_not_execute_a_plan_the_registry_no_longer_matches(
    service, request_
):
    service.policy.execute_on_approval = True
    service.policy.save()
    decide(request_, "avail")
    decide(request_, "identity", role="identity")
    edit_the_registry(request_)
    decide(request_, "ir", "sign_off", "incident_response")
    request_.refresh_from_db()
    assert request_.state == "approved"  # complete, but nothing went out
    assert not DnsChange.objects.exists()


def test_the_worker_asks_again_right_before_it_submits(request_, zone_dir):
    approve_all(request_)
    execute_request(actor=user("executor"), request_id=request_.pk)
    edit_the_registry(request_)  # between the commit and the worker's turn
    run_worker(request_)
    change = DnsChange.objects.get(request=request_)
    assert change.status == "failed" and "registry changed" in change.error
    assert "203.0.113.1" not in (zone_dir / "example.test.zone").read_text()


def test_the_worker_refuses_when_an_approver_lost_the_authority_after_execution_started(
    service, request_, zone_dir
):
    approve_all(request_)
    execute_request(actor=user("executor"), request_id=request_.pk)
    from django.contrib.auth.models import Group

    user("identity").groups.remove(Group.objects.get(name=f"{service.slug} approve_identity"))
    run_worker(request_)
    change = DnsChange.objects.get(request=request_)
    assert change.status == "failed" and "no longer holds approve_identity" in change.error
