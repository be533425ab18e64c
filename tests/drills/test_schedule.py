"""Scheduled drills (issue 17): beat opens the drills a policy asks for; people still decide."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import tasks
from approvals.drills import SCHEDULER, open_due_drills
from approvals.models import Policy
from audit.models import AuditEvent
from failover.errors import InvalidInput, NotAuthorised
from failover.models import FailoverRequest
from failover.services import declare_request
from tests.factories import make_service, user

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db):
    service = make_service("shop")
    Policy.objects.filter(service=service).update(drill_every_days=30)
    return service


def test_a_policy_schedule_opens_a_drill_and_asks_the_chain(shop, zone_dir):
    make_service("quiet")  # no schedule: never drilled by beat
    (pk,) = tasks.open_due_drills()
    drill = FailoverRequest.objects.get(pk=pk)
    assert (drill.drill, drill.state, drill.service.slug) == (True, "pending", "shop")
    assert drill.requester.username == SCHEDULER and drill.to_target.name == "failover"
    assert not drill.requester.has_usable_password()
    assert drill.decisions.count() == 0  # nothing approved for anyone
    declared = AuditEvent.objects.get(action="request.declared", object_id=str(pk))
    assert declared.data["channel"] == "schedule" and declared.data["drill"] is True
    assert open_due_drills() == []  # one at a time, and not again until it is due


def test_the_next_one_is_due_every_n_days_after_the_last(shop, zone_dir):
    (first,) = open_due_drills()
    FailoverRequest.objects.filter(pk=first).update(state="closed")
    now = timezone.now()
    assert open_due_drills(now + timedelta(days=29)) == []
    (second,) = open_due_drills(now + timedelta(days=30, minutes=1))
    assert second != first


def test_no_scheduled_drill_while_a_real_request_is_active(shop, zone_dir):
    declare_request(actor=user("declarer"), service=shop, target="failover", reason="down")
    assert open_due_drills() == []
    assert not FailoverRequest.objects.filter(drill=True).exists()


def test_a_policy_with_several_failover_targets_names_the_one_to_drill(shop, zone_dir, caplog):
    shop.targets.create(name="dr2", role="failover", address="203.0.113.9")
    assert open_due_drills() == []
    assert "name the target in its policy" in caplog.text
    Policy.objects.filter(service=shop).update(drill_target="failover")
    assert len(open_due_drills()) == 1


def test_the_policy_authority_is_for_drills_only(shop, zone_dir):
    """`scheduled` is the schedule's own door: it never opens a real request, and without it
    the scheduling account holds no authority at all."""
    from approvals.drills import scheduler_account

    with pytest.raises(InvalidInput, match="only a drill"):
        declare_request(
            actor=scheduler_account(), service=shop, target="failover", reason="x", scheduled=True
        )
    with pytest.raises(NotAuthorised):
        declare_request(
            actor=scheduler_account(), service=shop, target="failover", reason="x", drill=True
        )
