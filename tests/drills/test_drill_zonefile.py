"""Drills (issue 17) through the services layer and the executor, on zone files: the same
people and provider path, on the drill record; the governed record and the active target never
move; a real request always wins."""

from pathlib import Path

import dns.zone
import pytest

from approvals.timings import timings
from audit.models import AuditEvent
from audit.verify import verify_chain
from dnsproviders.models import DnsChange, RollbackCheck
from failover.errors import Conflict
from failover.models import FailoverRequest, Target
from failover.plans import drill_name
from failover.services import declare_request
from tests.factories import approve_all, make_service, run_worker, user

pytestmark = pytest.mark.django_db

GOVERNED = "shop.example.test."
DRILL = "failover-drill.shop.example.test."


def zone_value(zone_dir: Path, name: str) -> list[str]:
    zone = dns.zone.from_file(
        str(zone_dir / "example.test.zone"), origin="example.test.", relativize=False
    )
    rdataset = zone.get_rdataset(name, "A")
    return sorted(r.to_text() for r in rdataset) if rdataset else []


def declare(service, *, drill: bool, who="declarer") -> FailoverRequest:
    return declare_request(
        actor=user(who), service=service, target="failover", reason="rehearsal", drill=drill
    )


def states(request) -> list[str]:
    events = AuditEvent.objects.filter(
        object_type="failover.failoverrequest",
        object_id=str(request.pk),
        action="request.state_changed",
    ).order_by("seq")
    return [e.data["to"] for e in events]


@pytest.fixture
def shop(db):
    return make_service("shop", policy={"execute_on_approval": True})


def test_a_drill_moves_its_drill_record_there_and_back_and_nothing_else(shop, zone_dir):
    assert drill_name(GOVERNED) == DRILL
    drill = declare(shop, drill=True)
    (change,) = drill.plan["changes"]
    assert drill.drill and drill.plan["drill"] is True
    assert (change["name"], change["drill_of"]) == (DRILL, GOVERNED)
    assert (change["expected"], change["new"]) == ([], ["203.0.113.1"])  # first drill: created

    approve_all(drill)
    run_worker(drill)
    drill.refresh_from_db()
    assert drill.state == "closed" and drill.applied_at and drill.ended_at
    assert states(drill) == [
        "approved",
        "executing",
        "applied",
        "rolling_back",
        "rolled_back",
        "closed",
    ]
    # The drill record is put back as it was (absent: this drill created it); the governed
    # record and the active target never moved, and no rollback check is due.
    assert zone_value(zone_dir, DRILL) == []
    assert zone_value(zone_dir, GOVERNED) == ["198.51.100.1"]
    assert Target.objects.get(service=shop, active=True).name == "primary"
    assert not RollbackCheck.objects.filter(request=drill).exists()
    directions = sorted(DnsChange.objects.filter(request=drill).values_list("direction", "status"))
    assert directions == [("failover", "verified"), ("rollback", "verified")]
    assert verify_chain().ok
    seconds = timings([drill])[drill.pk]
    assert set(seconds["roles"]) == {"availability", "identity", "incident_response"}
    assert 0 <= max(seconds["roles"].values()) <= seconds["quorum"]  # executed on the last one
    assert seconds["quorum"] <= seconds["verified"] <= seconds["applied"]

    # The next drill starts from what the last one left, and a real failover after it still
    # moves the governed record as before.
    again = declare(shop, drill=True)
    assert again.plan["changes"][0]["expected"] == []
    approve_all(again)
    run_worker(again)
    again.refresh_from_db()
    assert again.state == "closed"
    real = declare(shop, drill=False)
    assert real.plan["changes"][0]["name"] == GOVERNED and "drill" not in real.plan
    approve_all(real)
    run_worker(real)
    assert zone_value(zone_dir, GOVERNED) == ["203.0.113.1"]
    assert zone_value(zone_dir, DRILL) == []


def test_an_approval_of_a_drill_is_never_an_approval_of_the_real_move(shop, zone_dir):
    drill = declare(shop, drill=True)
    drill_hash = drill.plan_hash
    drill.state = "cancelled"
    drill.save(update_fields=["state"])
    real = declare(shop, drill=False)
    assert real.plan_hash != drill_hash


def test_no_drill_while_a_real_request_is_active(shop, zone_dir):
    real = declare(shop, drill=False)
    with pytest.raises(
        Conflict, match=rf"real failover request #{real.pk}.*real request always wins"
    ):
        declare(shop, drill=True)
    assert FailoverRequest.objects.filter(drill=True).count() == 0


def test_a_real_request_cancels_the_open_drill(shop, zone_dir):
    drill = declare(shop, drill=True)
    with pytest.raises(Conflict, match=rf"active drill #{drill.pk}"):
        declare(shop, drill=True)  # one drill at a time
    real = declare(shop, drill=False, who="declarer")
    drill.refresh_from_db()
    assert drill.state == "cancelled" and drill.ended_at
    last = AuditEvent.objects.filter(
        object_type="failover.failoverrequest", object_id=str(drill.pk)
    ).latest("seq")
    assert last.data["to"] == "cancelled" and last.data["real_request"] == real.pk
    assert "a real request always wins" in last.data["reason"]


def test_a_drill_already_moving_its_records_finishes_beside_a_real_request(shop, zone_dir):
    drill = declare(shop, drill=True)
    approve_all(drill)
    drill.refresh_from_db()
    assert drill.state == "executing"
    real = declare(shop, drill=False)  # the drill touches no governed record: no conflict
    approve_all(real)
    run_worker(drill)
    run_worker(real)
    drill.refresh_from_db()
    real.refresh_from_db()
    assert (drill.state, real.state) == ("closed", "applied")
    assert zone_value(zone_dir, GOVERNED) == ["203.0.113.1"]
    assert zone_value(zone_dir, DRILL) == []


def test_no_governed_record_can_be_a_drill_record(shop, zone_dir):
    """Drill records carry no traffic: a governed record under a drill record's name (this
    service's or another's) would be moved by drills, so the database refuses one, whichever
    door (admin, API, a migration) tries."""
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    from failover.models import GovernedRecord

    record = GovernedRecord(
        service=make_service("other"),
        provider_account=shop.records.get().provider_account,
        zone="example.test.",
        name="Failover-Drill.shop.example.test.",
        rtype="A",
    )
    with pytest.raises(ValidationError, match="the drills' own records"):
        record.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        record.save()
