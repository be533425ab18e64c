"""Decisions through the services layer, with real transactions and every persona."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.models import Decision
from approvals.selectors import verdict_for
from approvals.services import expire_stale_requests, record_decision
from audit.models import AuditEvent
from failover.errors import (
    AlreadyDecided,
    Conflict,
    InvalidInput,
    NotAuthorised,
    NotFound,
    OwnRequest,
    PlanChanged,
    WrongState,
)
from failover.models import FailoverRequest
from failover.services import cancel_request, declare_request, record_signal, resolve_signal
from tests.factories import make_service, user

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_(service, people):
    return declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu-west-1 down"
    )


def decide(people, request, persona, kind="approve", role="", **kwargs):
    kwargs.setdefault("plan_hash", request.plan_hash)
    return record_decision(
        actor=people[persona], request_id=request.pk, kind=kind, role=role, **kwargs
    )


def approve_all(people, request):
    decide(people, request, "avail", role="availability")
    decide(people, request, "identity", role="identity")
    decide(people, request, "ir", "sign_off", "incident_response")


def state(request):
    request.refresh_from_db()
    return request.state


def test_full_approval_moves_the_request_to_approved_once(people, request_):
    decide(people, request_, "avail", role="availability")
    decide(people, request_, "identity", role="identity")
    assert state(request_) == "pending"  # incident response has not signed off yet
    decide(people, request_, "ir", "sign_off", "incident_response")
    assert state(request_) == "approved"
    transitions = AuditEvent.objects.filter(action="request.state_changed", data__to="approved")
    assert transitions.count() == 1
    assert transitions.get().actor == "ir"
    assert verdict_for(request_).may_execute


@pytest.mark.parametrize(
    ("persona", "kind", "role", "authority"),
    [
        ("identity", "approve", "availability", "approve_availability"),
        ("avail", "approve", "identity", "approve_identity"),
        ("executor", "approve", "availability", "approve_availability"),
        ("avail", "sign_off", "incident_response", "sign_off_incident_response"),
        ("other", "approve", "availability", "approve_availability"),
        ("outsider", "approve", "identity", "approve_identity"),
        ("avail", "veto", "", "veto"),
        ("other", "veto", "", "veto"),
        ("outsider", "reject", "availability", "approve_availability"),
    ],
)
def test_each_decision_needs_its_authority_on_this_service(
    people, request_, persona, kind, role, authority
):
    with pytest.raises(NotAuthorised) as exc:
        decide(people, request_, persona, kind, role, comment="because")
    assert exc.value.authority == authority
    assert not Decision.objects.exists()


def test_inv1_the_requester_cannot_approve_their_own_request(service, people):
    # The declarer also holds availability approval here: still refused.
    from failover.services import grant_authority

    grant_authority(
        actor=None, service=service, authority="approve_availability", user=people["declarer"]
    )
    request = declare_request(
        actor=people["declarer"], service=service, target="failover", reason="x"
    )
    with pytest.raises(OwnRequest):
        decide(people, request, "declarer", role="availability")
    assert not Decision.objects.exists()


def test_inv1_one_person_counts_for_one_role(service, people, request_):
    from failover.services import grant_authority

    grant_authority(actor=None, service=service, authority="approve_identity", user=people["avail"])
    decide(people, request_, "avail", role="availability")
    with pytest.raises(AlreadyDecided, match="already count as availability"):
        decide(people, request_, "avail", role="identity")


def test_inv1_approval_does_not_grant_execution(people, request_):
    approve_all(people, request_)
    from failover.chain import holds

    verdict = verdict_for(request_)
    assert verdict.may_execute and not verdict.requester_may_execute_alone
    assert not holds(people["avail"], request_.service, "execute")
    assert holds(people["executor"], request_.service, "execute")
    assert not holds(people["executor"], request_.service, "rollback")


def test_the_same_approval_twice_is_refused(people, request_):
    decide(people, request_, "avail", role="availability")
    with pytest.raises(AlreadyDecided):
        decide(people, request_, "avail", role="availability")
    assert Decision.objects.count() == 1


def test_a_complete_role_takes_no_more_approvals(people, request_):
    decide(people, request_, "avail", role="availability")
    with pytest.raises(AlreadyDecided, match="already complete"):
        decide(people, request_, "avail2", role="availability")


def test_inv2_a_stale_plan_hash_is_refused_with_the_current_one(people, request_):
    with pytest.raises(PlanChanged) as exc:
        decide(people, request_, "avail", role="availability", plan_hash="0" * 64)
    assert exc.value.current_plan_hash == request_.plan_hash
    assert not Decision.objects.exists()


def test_inv3_veto_blocks_until_the_vetoer_lifts_it(people, request_):
    approve_all(people, request_)
    veto = decide(people, request_, "vetoer", "veto", comment="IdP keys not rotated")
    verdict = verdict_for(request_)
    assert not verdict.may_execute
    assert verdict.blocked_by[0].reason == "vetoed by vetoer: IdP keys not rotated"
    assert state(request_) == "approved"  # still approved, but blocked
    decide(people, request_, "vetoer", "lift_veto")
    assert Decision.objects.get(kind="lift_veto").lifts_id == veto.pk
    assert verdict_for(request_).may_execute


def test_inv3_another_veto_holder_lifts_only_with_a_reason(people, request_):
    decide(people, request_, "vetoer", "veto", comment="not ready")
    with pytest.raises(InvalidInput, match="needs a reason"):
        decide(people, request_, "vetoer2", "lift_veto")
    with pytest.raises(NotAuthorised):
        decide(people, request_, "avail", "lift_veto", comment="I say so")
    decide(people, request_, "vetoer2", "lift_veto", comment="keys rotated, checked with vetoer")
    assert verdict_for(request_).standing_vetoes == ()


def test_a_veto_needs_a_reason_and_stands_once(people, request_):
    with pytest.raises(InvalidInput):
        decide(people, request_, "vetoer", "veto")
    decide(people, request_, "vetoer", "veto", comment="no")
    with pytest.raises(AlreadyDecided):
        decide(people, request_, "vetoer", "veto", comment="still no")


def test_lifting_when_no_veto_stands_is_refused(people, request_):
    with pytest.raises(AlreadyDecided):
        decide(people, request_, "vetoer", "lift_veto")


def test_several_vetoes_need_the_one_to_lift(people, request_):
    first = decide(people, request_, "vetoer", "veto", comment="a")
    decide(people, request_, "vetoer2", "veto", comment="b")
    with pytest.raises(InvalidInput):
        decide(people, request_, "identity", "lift_veto", comment="r")
    decide(people, request_, "vetoer2", "lift_veto", comment="r", veto_id=first.pk)
    assert len(verdict_for(request_).standing_vetoes) == 1


def test_reject_ends_the_request(people, request_):
    with pytest.raises(InvalidInput):
        decide(people, request_, "avail", "reject", "availability")
    decide(people, request_, "avail", "reject", "availability", comment="latency too high")
    assert state(request_) == "rejected"
    with pytest.raises(WrongState):
        decide(people, request_, "identity", role="identity")


def test_sign_off_not_required_is_refused(db):
    service = make_service("same", auth_change=False)
    people = {n: user(n) for n in ("declarer", "ir")}
    request = declare_request(
        actor=people["declarer"], service=service, target="failover", reason="x"
    )
    with pytest.raises(Conflict, match="needs no incident_response"):
        decide(people, request, "ir", "sign_off", "incident_response")


@pytest.mark.parametrize(
    ("kind", "role", "field"),
    [
        ("bless", "availability", "kind"),
        ("approve", "incident_response", "role"),
        ("sign_off", "identity", "role"),
        ("approve", "", "role"),
        ("reject", "cfo", "role"),
    ],
)
def test_malformed_decisions_are_refused(people, request_, kind, role, field):
    with pytest.raises(InvalidInput) as exc:
        decide(people, request_, "avail", kind, role)
    assert field in exc.value.fields


def test_unknown_request_is_not_found(people):
    with pytest.raises(NotFound):
        record_decision(
            actor=people["avail"],
            request_id=999999,
            kind="approve",
            role="availability",
            plan_hash="x",
        )


def test_decisions_on_closed_requests_are_refused(people, request_):
    cancel_request(actor=people["declarer"], request_id=request_.pk)
    with pytest.raises(WrongState):
        decide(people, request_, "avail", role="availability")
    with pytest.raises(WrongState):
        decide(people, request_, "vetoer", "veto", comment="late")


def test_inv5_lapsed_approvals_return_the_request_to_pending(people, request_):
    approve_all(people, request_)
    later = timezone.now() + timedelta(minutes=61)
    result = expire_stale_requests(now=later)
    assert result == {"expired": 0, "lapsed": 1}
    assert state(request_) == "pending"
    missing = [m.role for m in verdict_for(request_, now=later).missing]
    assert missing == ["availability", "identity", "incident_response"]


def test_open_requests_expire_after_their_ttl(people, request_):
    assert expire_stale_requests() == {"expired": 0, "lapsed": 0}
    result = expire_stale_requests(now=request_.expires_at + timedelta(seconds=1))
    assert result["expired"] == 1
    assert state(request_) == "expired"


def test_expiry_task_runs_the_service(people, request_):
    from approvals.tasks import expire_stale_requests as task

    FailoverRequest.objects.filter(pk=request_.pk).update(expires_at=timezone.now())
    assert task.apply().get() == {"expired": 1, "lapsed": 0}


def test_preapproved_breach_lets_the_declarer_execute_alone(db):
    service = make_service(
        "status",
        mode="preapproved_thresholds",
        auth_change=False,
        thresholds=(("error_rate", "gte", 5.0),),
    )
    declarer = user("declarer")
    request = declare_request(actor=declarer, service=service, target="failover", reason="5xx")
    assert not verdict_for(request).may_execute
    signal = record_signal(service=service, metric="error_rate", value=12.5, source="pagerduty")
    verdict = verdict_for(request)
    assert verdict.may_execute and verdict.requester_may_execute_alone
    assert verdict.breach.signal_id == signal.pk
    decide({"vetoer": user("vetoer")}, request, "vetoer", "veto", comment="IdP degraded too")
    assert not verdict_for(request).may_execute  # the identity veto still applies
    decide({"vetoer": user("vetoer")}, request, "vetoer", "lift_veto")
    resolve_signal(signal_id=signal.pk)
    assert not verdict_for(request).may_execute


def test_bad_signals_are_refused(service):
    with pytest.raises(InvalidInput):
        record_signal(service=service, metric="vibes", value=1)
    with pytest.raises(InvalidInput):
        record_signal(service=service, metric="error_rate", value="lots")
    with pytest.raises(InvalidInput):
        record_signal(service=service, metric="error_rate", value=float("nan"))


def test_every_decision_is_audited_in_order(people, request_):
    approve_all(people, request_)
    actions = list(
        AuditEvent.objects.filter(object_type="failover.failoverrequest").values_list(
            "action", flat=True
        )
    )
    assert actions == [
        "request.declared",
        "decision.approve",
        "decision.approve",
        "decision.sign_off",
        "request.state_changed",
    ]
