"""Drills through the API and the CLI (issue 17): `"drill": true` on the same door."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from failover.models import FailoverRequest
from tests.factories import approve_all

pytestmark = pytest.mark.django_db
URL = "/api/v1/failover-requests/"
DRILL = {"service": "shop", "target": "failover", "reason": "quarterly drill", "drill": True}


def test_a_drill_is_declared_on_the_same_door(shop, as_user):
    response = as_user("declarer").post(URL, DRILL, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["drill"] is True and body["plan"]["drill"] is True
    (change,) = body["plan"]["changes"]
    assert change["name"] == "failover-drill.shop.example.test."
    assert change["drill_of"] == "shop.example.test."
    # The same people are asked: drills rehearse the chain, not a shortcut around it.
    assert [m["role"] for m in body["missing"]] == ["availability", "identity", "incident_response"]
    real = as_user("declarer").post(URL, {**DRILL, "drill": False}, format="json")
    assert real.status_code == 201 and real.json()["drill"] is False
    assert FailoverRequest.objects.get(pk=body["id"]).state == "cancelled"


@pytest.mark.parametrize("value", ["yes", 1, "true", None])
def test_drill_is_a_json_boolean(shop, as_user, value):
    response = as_user("declarer").post(URL, {**DRILL, "drill": value}, format="json")
    assert response.status_code == 400
    assert "drill" in response.json()["error"]["fields"]
    assert not FailoverRequest.objects.exists()


def test_no_drill_while_a_real_request_is_active(shop, as_user):
    real = as_user("declarer").post(URL, {**DRILL, "drill": False}, format="json").json()
    response = as_user("declarer").post(URL, DRILL, format="json")
    assert response.status_code == 409
    assert "a real request always wins" in response.json()["error"]["message"]
    assert FailoverRequest.objects.get().pk == real["id"]


def test_the_cli_declares_a_drill(shop, settings, capsys):
    settings.DEBUG = True  # acting for a person from the shell: the embedded demo only
    call_command(
        "request", "declare", "shop", "failover", "--reason", "drill", "--drill", "--as", "declarer"
    )
    request = FailoverRequest.objects.get()
    assert request.drill and request.plan["changes"][0]["name"].startswith("failover-drill.")
    with pytest.raises(CommandError, match="active drill"):
        call_command(
            "request", "declare", "shop", "failover", "--reason", "x", "--drill", "--as", "declarer"
        )


def test_the_service_says_how_fast_each_team_decided_in_its_last_drill(shop, as_user):
    from datetime import timedelta

    from approvals.models import Decision
    from failover.models import FailoverRequest as Request

    assert as_user("declarer").get("/api/v1/services/shop/").json()["last_drill"] is None
    drill = as_user("declarer").post(URL, DRILL, format="json").json()
    request = Request.objects.get(pk=drill["id"])
    approve_all(request, with_ir=False)
    # Moved back in time so the figures are whole minutes: 90 s and 300 s after declaring.
    Request.objects.filter(pk=request.pk).update(created_at=request.created_at - timedelta(days=1))
    declared = Request.objects.get(pk=request.pk).created_at
    for role, seconds in (("availability", 90), ("identity", 300)):
        Decision.objects.filter(request=request, role=role).update(
            created_at=declared + timedelta(seconds=seconds)
        )
    body = as_user("other").get("/api/v1/services/shop/")
    assert body.status_code == 404  # not theirs: no figures either
    last = as_user("declarer").get("/api/v1/services/shop/").json()["last_drill"]
    assert (last["id"], last["state"], last["finished_at"]) == (request.pk, "pending", None)
    assert last["seconds"] == {
        "roles": {"availability": 90.0, "identity": 300.0},
        "quorum": None,  # incident response has not signed off
        "applied": None,
        "verified": None,
    }


def test_every_request_answers_its_timings(shop, as_user, zone_dir):
    from approvals.models import Policy
    from tests.factories import run_worker

    Policy.objects.filter(service=shop).update(execute_on_approval=True)
    body = as_user("declarer").post(URL, DRILL, format="json").json()
    assert body["timings"] == {"roles": {}, "quorum": None, "applied": None, "verified": None}
    request = FailoverRequest.objects.get(pk=body["id"])
    approve_all(request)
    run_worker(request)
    seconds = as_user("declarer").get(f"{URL}{request.pk}/").json()["timings"]
    assert set(seconds["roles"]) == {"availability", "identity", "incident_response"}
    assert seconds["quorum"] <= seconds["verified"] <= seconds["applied"]
