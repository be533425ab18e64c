"""Drills through the API and the CLI (issue 17): `"drill": true` on the same door."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from failover.models import FailoverRequest

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
