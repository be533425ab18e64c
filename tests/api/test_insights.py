"""GET /api/v1/insights/ (issue 17): decision times per role, drills beside incidents."""

from datetime import timedelta

import pytest

from approvals.models import Decision
from approvals.services import record_decision
from failover.models import FailoverRequest
from failover.services import declare_request
from tests.factories import approve_all, run_worker, user

pytestmark = pytest.mark.django_db
URL = "/api/v1/insights/"


def declared(service, *, drill, minutes, declarer="declarer", approver="avail"):
    """A request of `service` whose availability approval came `minutes` after it."""
    request = declare_request(
        actor=user(declarer), service=service, target="failover", reason="x", drill=drill
    )
    if approver:
        record_decision(
            actor=user(approver),
            request_id=request.pk,
            kind="approve",
            role="availability",
            plan_hash=request.plan_hash,
        )
    declared_at = request.created_at - timedelta(hours=1)
    FailoverRequest.objects.filter(pk=request.pk).update(created_at=declared_at)
    Decision.objects.filter(request=request).update(
        created_at=declared_at + timedelta(minutes=minutes)
    )
    return request


def test_drills_and_incidents_side_by_side(shop, elsewhere, as_user, zone_dir):
    first = declared(shop, drill=True, minutes=2)
    FailoverRequest.objects.filter(pk=first.pk).update(state="cancelled")
    second = declared(shop, drill=True, minutes=4)
    FailoverRequest.objects.filter(pk=second.pk).update(state="cancelled")
    declared(shop, drill=False, minutes=10)
    declared(elsewhere, drill=False, minutes=1, declarer="other", approver="")  # not theirs

    body = as_user("declarer").get(URL).json()
    assert [(r["service"], r["drill"]) for r in body["requests"]] == [
        ("shop", True), ("shop", True), ("shop", False)
    ]  # fmt: skip
    assert body["requests"][0]["seconds"]["roles"] == {"availability": 120.0}
    assert body["summary"] == [
        {
            "service": "shop",
            "role": "availability",
            "drills": {"count": 2, "median": 180.0},
            "incidents": {"count": 1, "median": 600.0},
        }
    ]
    [status] = body["services"]
    assert status["service"] == "shop" and status["window_days"] == 30
    assert status["overdue"] is True and status["last_drilled_at"] is None  # none completed
    # Only avail decided: every other role's holders are flagged, with their names.
    assert "availability" not in status["idle_roles"]
    assert status["idle_roles"]["identity"] == ["identity", "identity2"]


def test_a_completed_drill_is_what_counts_as_drilled(shop, as_user, zone_dir):
    from approvals.models import Policy

    Policy.objects.filter(service=shop).update(execute_on_approval=True)
    drill = declare_request(
        actor=user("declarer"), service=shop, target="failover", reason="x", drill=True
    )
    approve_all(drill)
    run_worker(drill)
    status = as_user("declarer").get(URL).json()["services"][0]
    assert status["overdue"] is False and status["idle_roles"] == {}
    seconds = as_user("declarer").get(URL).json()["requests"][0]["seconds"]
    assert None not in (seconds["quorum"], seconds["applied"], seconds["verified"])


@pytest.mark.parametrize("days", ["0", "367", "x", "-1", "1.5", ""])
def test_the_window_is_checked(shop, as_user, days):
    response = as_user("declarer").get(URL, {"days": days})
    assert response.status_code == 400
    assert "days" in response.json()["error"]["fields"]


def test_a_token_limited_to_other_services_sees_none_of_these(shop, elsewhere, as_user, zone_dir):
    declared(shop, drill=False, minutes=3)
    body = as_user("declarer", services=[elsewhere]).get(URL)
    assert body.status_code == 200 and body.json()["requests"] == []
