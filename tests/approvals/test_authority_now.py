"""Invariant 14: a decision counts only while its decider holds the authority; a service
account never approves, signs off or vetoes."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from approvals.models import Decision, ServiceAccount
from approvals.selectors import verdict_for
from approvals.services import record_decision
from audit.models import AuditEvent
from failover.chain import authority_chain, holds
from failover.errors import InvalidInput, NotAuthorised
from failover.services import declare_request, grant_authority, revoke_authority
from tests.factories import make_service, user

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_(service, people):
    return declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu-west-1 down"
    )


def decide(request, persona, kind="approve", role="availability"):
    return record_decision(
        actor=user(persona),
        request_id=request.pk,
        kind=kind,
        role=role,
        plan_hash=request.plan_hash,
        comment="checked",
    )


def approve_all(request):
    decide(request, "avail")
    decide(request, "identity", role="identity")
    decide(request, "ir", "sign_off", "incident_response")


def state(request):
    request.refresh_from_db()
    return request.state


def group(service, authority):
    return Group.objects.get(name=f"{service.slug} {authority}")


def test_leaving_the_group_voids_the_approval_and_the_others_cannot_finish_on_it(service, request_):
    approval = decide(request_, "avail")
    user("avail").groups.remove(group(service, "approve_availability"))

    approval.refresh_from_db()
    assert approval.voided_at is not None
    assert "no longer holds approve_availability" in approval.voided_reason
    voided = AuditEvent.objects.get(action="decision.voided")
    assert voided.data["decision_id"] == approval.pk and voided.data["decider"] == "avail"

    decide(request_, "identity", role="identity")
    decide(request_, "ir", "sign_off", "incident_response")
    verdict = verdict_for(request_)
    assert state(request_) == "pending"
    assert [m.role for m in verdict.missing] == ["availability"]
    assert not verdict.may_execute
    assert any(b.code == "authority_lost" for b in verdict.blocked_by)

    # Coming back does not revive the old approval: they approve again, knowingly.
    user("avail").groups.add(group(service, "approve_availability"))
    assert [m.role for m in verdict_for(request_).missing] == ["availability"]
    decide(request_, "avail")
    assert state(request_) == "approved"


def test_an_approved_request_returns_to_pending_when_an_approver_loses_the_grant(service, request_):
    approve_all(request_)
    assert state(request_) == "approved"
    revoke_authority(
        actor=None,
        service=service,
        authority="approve_identity",
        group=group(service, "approve_identity"),
    )
    assert state(request_) == "pending"
    assert AuditEvent.objects.filter(action="decision.voided", data__decider="identity").exists()
    transition = AuditEvent.objects.filter(action="request.state_changed").last()
    assert transition.data["to"] == "pending"


def test_a_direct_grant_revoked_and_a_disabled_account_void_too(db):
    service = make_service(
        "direct",
        chain={
            "declare": ["d"],
            "approve_availability": ["a"],
            "approve_identity": ["i"],
            "veto": ["v"],
            "sign_off_incident_response": ["r"],
            "execute": ["x"],
            "rollback": ["x"],
        },
    )
    request = declare_request(actor=user("d"), service=service, target="failover", reason="down")
    first = decide(request, "a")
    second = decide(request, "i", role="identity")
    revoke_authority(actor=None, service=service, authority="approve_availability", user=user("a"))
    identity = user("i")
    identity.is_active = False
    identity.save()
    for decision in (first, second):
        decision.refresh_from_db()
        assert decision.voided_at is not None
    assert {m.role for m in verdict_for(request).missing} >= {"availability", "identity"}


def test_the_verdict_discounts_a_decider_who_lost_authority_by_any_path(service, request_):
    """Even a change no signal saw (a bulk update) is caught: the verdict reads who holds the
    authority now."""
    decide(request_, "avail")
    type(user("avail")).objects.filter(username="avail").update(is_active=False)
    verdict = verdict_for(request_)
    assert "availability" in [m.role for m in verdict.missing]
    assert verdict.discounted and "no longer holds" in verdict.discounted[0].reason


def test_a_service_account_cannot_be_granted_a_human_act(service):
    bot = user("pager-bot")
    ServiceAccount.objects.create(user=bot)
    for authority in ("approve_identity", "approve_availability", "veto", "sign_off_comms"):
        with pytest.raises(InvalidInput, match="service account cannot hold"):
            grant_authority(actor=None, service=service, authority=authority, user=bot)
    with pytest.raises(CommandError, match="service account cannot hold"):
        call_command("grant_authority", service.slug, "approve_identity", "--user", "pager-bot")
    grant_authority(actor=None, service=service, authority="declare", user=bot)  # machines declare
    assert holds(bot, service, "declare")


def test_a_service_account_in_an_approver_group_neither_decides_nor_counts(service, request_):
    bot = user("pager-bot")
    ServiceAccount.objects.create(user=bot)
    bot.groups.add(group(service, "approve_identity"), group(service, "veto"))
    assert not holds(bot, service, "approve_identity")
    for kind, role in (("approve", "identity"), ("veto", ""), ("reject", "identity")):
        with pytest.raises(NotAuthorised, match="human act needs a human"):
            record_decision(
                actor=bot,
                request_id=request_.pk,
                kind=kind,
                role=role,
                plan_hash=request_.plan_hash,
                comment="bot",
            )
    assert not Decision.objects.filter(actor=bot).exists()
    # Nor does it make a chain complete: with the people gone, approve_identity has no holder.
    for person in ("identity", "identity2"):
        user(person).groups.remove(group(service, "approve_identity"))
    assert "approve_identity" in authority_chain(service).missing
    assert "pager-bot" not in authority_chain(service).entry("approve_identity").holders


def test_an_old_decision_by_an_account_made_a_service_account_stops_counting(service, request_):
    approval = decide(request_, "avail")
    ServiceAccount.objects.create(user=user("avail"))
    approval.refresh_from_db()
    assert approval.voided_at is not None and "service account" in approval.voided_reason
    assert "availability" in [m.role for m in verdict_for(request_).missing]


def test_a_group_of_a_service_account_and_disabled_people_holds_nothing(service, request_):
    """The conditions on a group's member are one member's: a bot does not lend its being
    active to a disabled person, nor a person their being human to a bot."""
    bot = user("pager-bot")
    ServiceAccount.objects.create(user=bot)
    bot.groups.add(group(service, "approve_identity"))
    for person in ("identity", "identity2"):
        member = user(person)
        member.is_active = False
        member.save()
    assert "approve_identity" in authority_chain(service).missing
    verdict = verdict_for(request_)
    assert any(b.code == "incomplete_chain" for b in verdict.blocked_by)
