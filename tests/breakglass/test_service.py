"""Break-glass through the services layer: who may, what it needs, what it records, the time
box, and that a standing veto is never bypassed silently."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from approvals.execution import rollback_request
from approvals.models import BreakGlass, Policy, ServiceAccount
from approvals.readiness.models import ReadinessCheck
from approvals.services import record_decision
from audit.models import AuditEvent
from audit.verify import verify_chain
from dnsproviders.models import DnsChange
from failover.errors import Conflict, InvalidInput, NotAuthorised, PlanChanged, WrongState
from failover.models import FailoverRequest
from failover.services import cancel_request, grant_authority, revoke_authority
from tests.breakglass.conftest import JUSTIFICATION, use, veto
from tests.factories import run_worker, user

pytestmark = pytest.mark.django_db


def state(request) -> str:
    return FailoverRequest.objects.get(pk=request.pk).state


def nothing_happened(request) -> None:
    assert state(request) == "pending"
    assert not BreakGlass.objects.exists()
    assert not DnsChange.objects.filter(request=request).exists()
    assert not AuditEvent.objects.filter(action="break_glass.used").exists()


def test_holder_executes_without_approvals_and_the_use_is_flagged(pending, people):
    used = use(pending)
    assert state(pending) == "executing"
    changes = DnsChange.objects.filter(request=pending)
    assert changes.count() == 1 and changes.get().direction == "failover"
    assert changes.get().plan_hash == pending.plan_hash
    assert used.actor == people["breakglass"] and used.justification == JUSTIFICATION
    assert used.skipped_roles == ["availability", "identity", "incident_response"]
    assert used.overridden == [] and used.review_open and used.plan_hash == pending.plan_hash
    # The time box is the service's policy (60 minutes by default).
    assert used.expires_at - used.created_at == timedelta(minutes=60)
    event = AuditEvent.objects.get(action="break_glass.used")
    assert event.object_id == str(pending.pk) and event.actor == "breakglass"
    assert event.data["break_glass"] is True
    assert event.data["justification"] == JUSTIFICATION
    assert event.data["skipped_roles"] == used.skipped_roles
    assert event.data["skipped_approvers"]["identity"] == ["identity", "identity2"]
    assert abs(parse_datetime(event.data["expires_at"]) - used.expires_at) < timedelta(seconds=1)
    moved = AuditEvent.objects.get(action="request.state_changed", data__to="executing")
    assert moved.data["break_glass"] is True and moved.data["break_glass_id"] == used.pk
    assert moved.seq > event.seq
    assert verify_chain().ok


def test_the_time_box_follows_the_policy(pending):
    Policy.objects.filter(service=pending.service).update(break_glass_minutes=15)
    used = use(pending)
    assert used.expires_at - used.created_at == timedelta(minutes=15)


def test_policy_minutes_are_bounded():
    field = Policy._meta.get_field("break_glass_minutes")
    for bad in (0, 24 * 60 + 1):
        with pytest.raises(ValidationError):
            field.clean(bad, None)
    assert field.clean(24 * 60, None) == 24 * 60


@pytest.mark.parametrize("who", ["declarer", "executor", "vetoer", "identity", "other", "outsider"])
def test_only_break_glass_holders_of_this_service_may(pending, people, who):
    with pytest.raises(NotAuthorised) as refused:
        use(pending, who)
    assert refused.value.authority == "break_glass"
    nothing_happened(pending)


@pytest.mark.parametrize("justification", ["", "   ", "too short", "x" * 19, "x" * 2001], ids=len)
def test_a_justification_is_required_and_bounded(pending, justification):
    with pytest.raises(InvalidInput) as refused:
        use(pending, justification=justification)
    assert "justification" in refused.value.fields
    nothing_happened(pending)


def test_a_stale_plan_is_refused(pending):
    with pytest.raises(PlanChanged):
        use(pending, plan_hash="0" * 64)
    nothing_happened(pending)


def test_a_standing_veto_must_be_named_in_its_own_justification(pending, people):
    vetoed = veto(pending)
    for veto_justification in ("", "the vetoer2 concern is accepted", "we accept the risk"):
        with pytest.raises(InvalidInput) as refused:
            use(pending, veto_justification=veto_justification)
        assert "vetoer" in refused.value.fields["veto_justification"]
        nothing_happened(pending)
    used = use(pending, veto_justification="Vetoer's concern about EU sessions is accepted")
    assert state(pending) == "executing"
    assert used.overridden == [
        {
            "kind": "veto",
            "id": vetoed.pk,
            "reason": "vetoed by vetoer: the US identity provider rejects EU sessions",
        }
    ]
    assert used.veto_justification.startswith("Vetoer's")
    event = AuditEvent.objects.get(action="break_glass.used")
    assert event.data["overridden"] == used.overridden
    assert event.data["veto_justification"] == used.veto_justification


def test_every_standing_veto_is_named(pending):
    veto(pending, "vetoer")
    veto(pending, "vetoer2", comment="certificates untested")
    with pytest.raises(InvalidInput) as refused:
        use(pending, veto_justification="vetoer is wrong about the sessions")
    assert "vetoer2" in refused.value.fields["veto_justification"]
    nothing_happened(pending)
    used = use(pending, veto_justification="vetoer and vetoer2 both accepted by the IC")
    assert [o["kind"] for o in used.overridden] == ["veto", "veto"]


def test_a_lifted_veto_needs_no_naming(pending):
    vetoed = veto(pending)
    record_decision(
        actor=user("vetoer"), request_id=pending.pk, kind="lift_veto", veto_id=vetoed.pk
    )
    assert use(pending).overridden == []


def test_a_failing_readiness_check_is_a_veto_to_name(pending, settings):
    settings.READINESS_SYSTEM_VETO = True
    check = ReadinessCheck.objects.create(
        request=pending,
        target=pending.to_target,
        kind="tls",
        identity_critical=True,
        ok=False,
        reason="certificate expired",
        checked_at=timezone.now(),
    )
    with pytest.raises(InvalidInput) as refused:
        use(pending)
    assert "tls" in refused.value.fields["veto_justification"]
    nothing_happened(pending)
    used = use(pending, veto_justification="tls: the expired certificate is the primary's")
    assert used.overridden == [
        {
            "kind": "system_veto",
            "id": check.pk,
            "reason": "readiness check tls failed: certificate expired",
        }
    ]


def test_checks_not_yet_reported_are_overridden_and_recorded(pending, settings):
    settings.READINESS_SYSTEM_VETO = True
    used = use(pending)
    assert [o["kind"] for o in used.overridden] == ["readiness_pending"]


def test_an_incomplete_chain_is_overridden_and_recorded(pending, service):
    # Nobody holds `rollback` any more: governance failed, which is what break-glass is for.
    group = Group.objects.get(name="shop rollback")
    revoke_authority(actor=user("chain-admin"), service=service, authority="rollback", group=group)
    used = use(pending)
    assert [o["kind"] for o in used.overridden] == ["incomplete_chain"]
    assert "rollback" in used.overridden[0]["reason"]


def test_a_rejected_request_is_not_broken_open(pending):
    record_decision(
        actor=user("avail"),
        request_id=pending.pk,
        kind="reject",
        role="availability",
        plan_hash=pending.plan_hash,
        comment="the failover target is down too",
    )
    with pytest.raises(Conflict) as refused:
        use(pending)
    assert "declare again" in refused.value.message
    assert not BreakGlass.objects.exists()


def test_only_open_requests(pending):
    cancel_request(actor=user("declarer"), request_id=pending.pk)
    with pytest.raises(WrongState):
        use(pending)
    assert not BreakGlass.objects.exists()


def test_an_approved_request_can_be_broken_open_too(pending):
    for who, kind, role in [
        ("avail", "approve", "availability"),
        ("identity", "approve", "identity"),
        ("ir", "sign_off", "incident_response"),
    ]:
        record_decision(
            actor=user(who),
            request_id=pending.pk,
            kind=kind,
            role=role,
            plan_hash=pending.plan_hash,
        )
    assert state(pending) == "approved"
    assert use(pending).skipped_roles == []
    assert state(pending) == "executing"


def test_service_accounts_cannot_break_glass(pending, service):
    bot = user("pager-bot")
    ServiceAccount.objects.create(user=bot)
    # A direct grant is refused (a human act); through a group it is held but never usable.
    bot.groups.add(Group.objects.get(name=f"{service.slug} break_glass"))
    with pytest.raises(NotAuthorised) as refused:
        use(pending, "pager-bot")
    assert "human" in refused.value.message
    nothing_happened(pending)


# --- the time box ----------------------------------------------------------------------------


def applied_under_break_glass(pending) -> BreakGlass:
    used = use(pending)
    run_worker(pending)
    assert state(pending) == "applied"
    return used


def test_the_grant_allows_its_user_to_roll_back_within_the_time_box(pending):
    applied_under_break_glass(pending)
    rollback_request(actor=user("breakglass"), request_id=pending.pk, reason="EU is back")
    assert state(pending) == "rolling_back"
    event = AuditEvent.objects.get(action="request.state_changed", data__to="rolling_back")
    assert event.data["break_glass"] is True


def test_after_the_time_box_a_rollback_needs_the_authority_again(pending):
    used = applied_under_break_glass(pending)
    BreakGlass.objects.filter(pk=used.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(NotAuthorised) as refused:
        rollback_request(actor=user("breakglass"), request_id=pending.pk)
    assert refused.value.authority == "rollback"
    assert state(pending) == "applied"
    rollback_request(actor=user("rollbacker"), request_id=pending.pk)
    assert state(pending) == "rolling_back"


def test_the_grant_is_personal_and_per_request(pending, people):
    applied_under_break_glass(pending)
    other_holder = user("bg-colleague")
    grant_authority(
        actor=user("chain-admin"),
        service=pending.service,
        authority="break_glass",
        user=other_holder,
    )
    with pytest.raises(NotAuthorised):
        rollback_request(actor=other_holder, request_id=pending.pk)
    assert state(pending) == "applied"


def test_the_grant_ends_when_its_user_loses_break_glass(pending, service):
    """Invariant 14: a time box does not outlive its holder's authority."""
    from django.contrib.auth.models import Group

    applied_under_break_glass(pending)
    user("breakglass").groups.remove(Group.objects.get(name=f"{service.slug} break_glass"))
    with pytest.raises(NotAuthorised) as refused:
        rollback_request(actor=user("breakglass"), request_id=pending.pk, reason="EU is back")
    assert refused.value.authority == "rollback"
    assert state(pending) == "applied"
