import pytest

from approvals.selectors import verdict_for
from audit.models import AuditEvent
from failover.errors import Conflict, IncompleteChain, InvalidInput, NotAuthorised, WrongState
from failover.models import FailoverRequest, RecordValue
from failover.plans import plan_hash
from failover.services import (
    cancel_request,
    declare_request,
    grant_authority,
    replan_request,
    revoke_authority,
)
from tests.factories import make_service, user

pytestmark = pytest.mark.django_db


def declare(actor, service, **kwargs):
    kwargs.setdefault("target", "failover")
    kwargs.setdefault("reason", "eu-west-1 is down")
    return declare_request(actor=actor, service=service, **kwargs)


def test_it_declares_with_plan_and_audit(service, people):
    request = declare(people["declarer"], service, incident_ref="INC-42")
    assert request.state == "pending"
    assert request.from_target.name == "primary"
    (change,) = request.plan["changes"]
    assert (change["name"], change["expected"], change["new"]) == (
        "shop.example.test.",
        ["198.51.100.1"],
        ["203.0.113.1"],
    )
    assert request.plan_hash == plan_hash(request.plan)
    assert request.rollback_criteria["min_minutes_on_target"] == 30
    event = AuditEvent.objects.get(action="request.declared")
    assert event.actor == "declarer"
    assert event.data["plan_hash"] == request.plan_hash


@pytest.mark.parametrize("persona", ["avail", "executor", "other", "outsider"])
def test_it_requires_declare_authority_on_this_service(service, people, persona):
    with pytest.raises(NotAuthorised) as exc:
        declare(people[persona], service)
    assert exc.value.authority == "declare"
    assert not FailoverRequest.objects.exists()


def test_superuser_status_confers_no_authority(service):
    admin = user("root", is_superuser=True, is_staff=True)
    with pytest.raises(NotAuthorised):
        declare(admin, service)


def test_an_inactive_holder_holds_nothing(service, people):
    people["declarer"].is_active = False
    people["declarer"].save()
    with pytest.raises(NotAuthorised):
        declare(people["declarer"], service)


def test_incomplete_chain_refuses_naming_what_is_missing(db):
    service = make_service("legacy", chain={"declare": ["d"], "approve_availability": ["a"]})
    with pytest.raises(IncompleteChain) as exc:
        declare(user("d"), service)
    assert "approve_identity, veto, execute, rollback" in exc.value.message
    assert not FailoverRequest.objects.exists()


def test_a_group_without_active_members_leaves_the_chain_incomplete(service, people):
    people["executor"].is_active = False
    people["executor"].save()
    with pytest.raises(IncompleteChain) as exc:
        declare(people["declarer"], service)
    assert exc.value.extra["missing"] == ["execute"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"target": "nowhere"}, "target"),
        ({"target": "primary"}, "target"),
        ({"segment": "wholesale"}, "segment"),
        (
            {"rollback_criteria": {"min_minutes_on_target": -1}},
            "rollback_criteria.min_minutes_on_target",
        ),
        ({"rollback_criteria": {"surprise": 1}}, "rollback_criteria"),
        ({"rollback_criteria": "soon"}, "rollback_criteria"),
        ({"incident_ref": "x" * 201}, "incident_ref"),
    ],
)
def test_it_rejects_bad_input_and_changes_nothing(service, people, kwargs, field):
    before = AuditEvent.objects.count()
    with pytest.raises(InvalidInput) as exc:
        declare(people["declarer"], service, **kwargs)
    assert field in exc.value.fields
    assert not FailoverRequest.objects.exists()
    assert AuditEvent.objects.count() == before


def test_one_active_request_per_service(service, people):
    first = declare(people["declarer"], service)
    with pytest.raises(Conflict) as exc:
        declare(people["declarer"], service)
    assert f"#{first.pk}" in exc.value.message
    cancel_request(actor=people["declarer"], request_id=first.pk, reason="mistake")
    assert declare(people["declarer"], service).pk != first.pk


def test_cancel_by_requester_or_declare_holder_only(service, people):
    request = declare(people["declarer"], service)
    for persona in ("avail", "other", "outsider"):
        with pytest.raises(NotAuthorised):
            cancel_request(actor=people[persona], request_id=request.pk)
    cancel_request(actor=people["declarer"], request_id=request.pk, reason="drill over")
    request.refresh_from_db()
    assert request.state == "cancelled"
    assert request.ended_at is not None
    with pytest.raises(WrongState):
        cancel_request(actor=people["declarer"], request_id=request.pk)


def test_replan_voids_approvals_of_the_old_plan(service, people):
    from approvals.services import record_decision

    request = declare(people["declarer"], service)
    record_decision(
        actor=people["avail"],
        request_id=request.pk,
        kind="approve",
        role="availability",
        plan_hash=request.plan_hash,
    )
    old_hash = request.plan_hash
    value = RecordValue.objects.get(target__service=service, target__name="failover")
    value.values = ["203.0.113.99"]
    value.save()
    request = replan_request(actor=people["declarer"], request_id=request.pk)
    assert request.plan_hash != old_hash
    assert request.plan["changes"][0]["new"] == ["203.0.113.99"]
    verdict = verdict_for(request)
    assert "availability" in [m.role for m in verdict.missing]
    assert AuditEvent.objects.filter(action="request.replanned").count() == 1


def test_replan_with_unchanged_records_keeps_the_plan(service, people):
    request = declare(people["declarer"], service)
    same = replan_request(actor=people["declarer"], request_id=request.pk)
    assert same.plan_hash == request.plan_hash
    assert not AuditEvent.objects.filter(action="request.replanned").exists()


def test_authority_changes_are_audited(service, people):
    admin = user("chain-admin")
    revoke_authority(actor=admin, service=service, authority="veto", user=people["outsider"])
    grant_authority(actor=admin, service=service, authority="veto", user=people["outsider"])
    event = AuditEvent.objects.filter(action="authority.granted").last()
    assert event.actor == "chain-admin"
    assert event.data == {
        "service": "shop",
        "service_id": str(service.pk),
        "authority": "veto",
        "user": "outsider",
    }
    revoke_authority(actor=admin, service=service, authority="veto", user=people["outsider"])
    assert AuditEvent.objects.filter(action="authority.revoked").last().data["user"] == "outsider"


def test_group_membership_changes_are_audited(service, people):
    from django.contrib.auth.models import Group

    group = Group.objects.get(name="shop veto")
    people["outsider"].groups.add(group)
    event = AuditEvent.objects.filter(action="group.member_added").last()
    assert event.data == {"group": "shop veto", "users": ["outsider"]}
    group.user_set.remove(people["outsider"])
    assert AuditEvent.objects.filter(action="group.member_removed").last().data["users"] == [
        "outsider"
    ]


def test_unknown_authority_is_refused(service, people):
    with pytest.raises(InvalidInput):
        grant_authority(actor=None, service=service, authority="godmode", user=people["outsider"])
