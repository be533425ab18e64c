"""The worker's gate right before it submits (issue 18): a fixed number of queries, each
written once per process (failover/precompiled.py), and the same answer as the rule every door
asks, for every reason a change must not go out.

Each test builds a request the worker is about to submit, changes what the gate weighs after
execution started, and checks the answer two ways: the words of the refusal, and the answer
of `may_go_out` reading the request the way every door does, with the ORM's own queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.breakglass import break_glass
from approvals.execution import execute_request
from approvals.gate import may_go_out, why_not_submit
from approvals.models import BreakGlass, Decision, Policy, ServiceAccount
from approvals.readiness.checks import IDENTITY_CRITICAL, KINDS
from approvals.readiness.models import ReadinessCheck
from approvals.services import record_decision
from dnsproviders.models import DnsChange
from failover.models import FailoverRequest, GovernedRecord, RecordValue, Signal
from failover.services import declare_request, revoke_authority
from tests.factories import approve_all, make_service, user

pytestmark = pytest.mark.django_db
JUSTIFICATION = "identity lead unreachable for 30 min while EU checkout is down"
# The request, its decisions, the chain, its break-glass use, the registry's records and
# values; and the latest readiness checks when they weigh.
GATE_QUERIES = 6


def reference(request_id: int, plan_hash: str) -> str | None:
    """The gate as it was before issue 18: the request, then `may_go_out` reading everything."""
    request = FailoverRequest.objects.select_related(
        "service__policy", "from_target", "to_target"
    ).get(pk=request_id)
    if request.state != "executing":
        return f"the request is {request.state}, not executing"
    answer = may_go_out(request, stage="submit", plan_hash=plan_hash)
    return None if answer else "; ".join(answer.reasons)


def gate(change: DnsChange, plan_hash: str | None = None) -> str | None:
    """The worker's answer, checked against the rule read the long way."""
    plan_hash = plan_hash or change.plan_hash
    answer = why_not_submit(change.request_id, change.direction, plan_hash)
    assert answer == reference(change.request_id, plan_hash)
    return answer


def report_checks(request, *, ok: bool = True, kind: str | None = None, checked_at=None, pk=None):
    for each in [kind] if kind else KINDS:
        ReadinessCheck.objects.create(
            pk=pk,
            request=request,
            target=request.to_target,
            kind=each,
            identity_critical=each in IDENTITY_CRITICAL,
            ok=ok,
            reason="" if ok else f"{each} is broken",
            checked_at=checked_at or timezone.now(),
        )


@pytest.fixture
def pending(service, people):
    return declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu-west-1 down"
    )


@pytest.fixture
def executing(pending) -> DnsChange:
    """Approved and executed: the change the worker is about to submit."""
    approve_all(pending)
    execute_request(actor=user("executor"), request_id=pending.pk)
    return DnsChange.objects.get(request=pending)


def veto_row(change: DnsChange, who: str = "vetoer") -> Decision:
    """A veto that committed after execution started (a door refuses a new one then; the
    worker must not trust that nothing slipped in between)."""
    request = change.request
    return Decision.objects.create(
        request=request, actor=user(who), kind="veto", plan_hash=request.plan_hash, comment="no"
    )


# --- one query ---------------------------------------------------------------------------


@pytest.mark.parametrize("readiness", [False, True])
def test_the_gate_reads_a_fixed_number_of_queries(settings, pending, readiness):
    settings.READINESS_SYSTEM_VETO = readiness
    report_checks(pending)
    approve_all(pending)
    execute_request(actor=user("executor"), request_id=pending.pk)
    change = DnsChange.objects.get(request=pending)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert why_not_submit(change.request_id, "failover", change.plan_hash) is None
        return len(ctx.captured_queries)

    expected = GATE_QUERIES + readiness
    assert queries() == expected
    # As many as before, whatever the number of decisions, checks, grants and records.
    lifted = veto_row(change)
    Decision.objects.create(
        request=pending, actor=user("vetoer"), kind="lift_veto", lifts=lifted, plan_hash="x"
    )
    report_checks(pending)
    record = GovernedRecord.objects.get(service=pending.service)
    record.pk, record.name = None, f"api.{record.zone}"
    record.save()
    for target in pending.service.targets.all():
        RecordValue.objects.create(record=record, target=target, values=["192.0.2.7"])
    revoke_authority(
        actor=user("chain-admin"),
        service=pending.service,
        authority="approve_availability",
        group=Group.objects.get(name="shop approve_availability"),
    )
    with CaptureQueriesContext(connection) as ctx:
        assert "no longer holds" in why_not_submit(change.request_id, "failover", change.plan_hash)
    assert len(ctx.captured_queries) == expected


def test_a_rollback_asks_the_state_only(executing):
    with CaptureQueriesContext(connection) as ctx:
        answer = why_not_submit(executing.request_id, "rollback", executing.plan_hash)
    assert answer == "the request is executing, not rolling_back"
    assert len(ctx.captured_queries) == 1


# --- each reason ---------------------------------------------------------------------------


def test_a_request_nothing_changed_on_goes_out(executing):
    assert gate(executing) is None


def test_a_service_without_a_policy_is_weighed_by_the_defaults(executing):
    Policy.objects.filter(service_id=executing.request.service_id).delete()
    with CaptureQueriesContext(connection) as ctx:
        assert gate(executing) is None
    assert len(ctx.captured_queries) > 1  # the reference's reads
    with CaptureQueriesContext(connection) as ctx:
        why_not_submit(executing.request_id, "failover", executing.plan_hash)
    assert len(ctx.captured_queries) == GATE_QUERIES  # none to find out there is no policy


def test_a_request_no_longer_executing_is_refused(executing):
    FailoverRequest.objects.filter(pk=executing.request_id).update(state="cancelled")
    assert gate(executing) == "the request is cancelled, not executing"


def test_a_veto_placed_after_the_approvals_stops_it_until_lifted(executing):
    vetoed = veto_row(executing)
    assert "vetoed by vetoer: no" in gate(executing)
    Decision.objects.create(
        request_id=executing.request_id,
        actor=user("vetoer"),
        kind="lift_veto",
        lifts=vetoed,
        plan_hash=executing.plan_hash,
    )
    assert gate(executing) is None


def test_a_rejection_stops_it(executing):
    Decision.objects.create(
        request_id=executing.request_id,
        actor=user("avail2"),
        kind="reject",
        role="availability",
        plan_hash=executing.plan_hash,
        comment="wrong region",
    )
    assert "rejected by avail2: wrong region" in gate(executing)


@pytest.mark.parametrize("how", ["group", "inactive", "service_account"])
def test_an_approver_who_lost_the_authority_no_longer_counts(executing, how):
    identity = user("identity")
    if how == "group":
        identity.groups.remove(Group.objects.get(name="shop approve_identity"))
    elif how == "inactive":
        identity.is_active = False
        identity.save()
    else:  # a human authority never counts for a service account
        ServiceAccount.objects.create(user=identity)
    answer = gate(executing)
    assert "identity approval missing (0/1)" in answer
    if how == "service_account":
        assert "no longer holds" not in answer  # discounted as a machine, not a lapse
    else:
        assert "identity approve by identity no longer counts" in answer


def test_a_revoked_direct_grant_no_longer_counts(people, zone_dir):
    service = make_service(
        "direct",
        chain={
            a: [p]
            for a, p in [
                ("declare", "declarer"),
                ("approve_availability", "avail"),
                ("approve_identity", "identity"),
                ("sign_off_incident_response", "ir"),
                ("veto", "vetoer"),
                ("execute", "executor"),
                ("rollback", "rollbacker"),
            ]
        },
    )
    request = declare_request(
        actor=user("declarer"), service=service, target="failover", reason="down"
    )
    approve_all(request)
    execute_request(actor=user("executor"), request_id=request.pk)
    change = DnsChange.objects.get(request=request)
    assert gate(change) is None
    revoke_authority(
        actor=user("chain-admin"),
        service=service,
        authority="approve_availability",
        user=user("avail"),
    )
    answer = gate(change)
    assert "no longer holds approve_availability" in answer
    # Nobody holds it any more: the chain itself is incomplete.
    assert "nobody holds approve_availability" in answer


def test_an_incomplete_chain_stops_it(executing):
    Group.objects.get(name="shop rollback").user_set.clear()
    assert "the authority chain is incomplete: nobody holds rollback" in gate(executing)


def test_an_expired_approval_no_longer_counts(executing):
    Decision.objects.filter(request_id=executing.request_id, role="identity").update(
        created_at=timezone.now() - timedelta(minutes=61)
    )
    answer = gate(executing)
    assert "identity approve by identity expired at" in answer
    assert "identity approval missing (0/1)" in answer


def test_a_plan_other_than_the_one_approved_is_refused(executing):
    assert gate(executing, plan_hash="0" * 64) == (
        "the plan changed since it was reviewed; review the new plan"
    )
    # The request's plan moved on: the approvals were for the earlier one.
    FailoverRequest.objects.filter(pk=executing.request_id).update(plan_hash="1" * 64)
    answer = gate(executing, plan_hash="1" * 64)
    assert "identity approve by identity was for an earlier plan" in answer
    assert gate(executing).startswith("the plan changed since it was reviewed")


def test_a_registry_edit_after_the_plan_stops_it(executing):
    value = RecordValue.objects.get(
        record__service_id=executing.request.service_id, target__name="failover"
    )
    value.values = ["203.0.113.99"]
    value.save()
    assert "the registry changed since the plan" in gate(executing)


def test_readiness_checks_weigh_as_every_door_weighs_them(settings, pending):
    settings.READINESS_SYSTEM_VETO = True
    report_checks(pending)
    approve_all(pending)
    execute_request(actor=user("executor"), request_id=pending.pk)
    change = DnsChange.objects.get(request=pending)
    assert gate(change) is None
    later = timezone.now() + timedelta(seconds=1)
    report_checks(pending, ok=False, kind="tls", checked_at=later, pk=10_000)
    assert "readiness check tls failed: tls is broken" in gate(change)
    # The latest of each kind counts; of two at the same time, the one stored last.
    report_checks(pending, kind="tls", checked_at=later, pk=9_000)
    assert "readiness check tls failed" in gate(change)
    report_checks(pending, kind="tls", checked_at=later + timedelta(seconds=1))
    assert gate(change) is None
    report_checks(pending, ok=False, kind="secrets", checked_at=later)
    assert "readiness check secrets failed" in gate(change)
    ReadinessCheck.objects.filter(kind="secrets", ok=False).update(
        lifted_by=user("vetoer"), lifted_at=timezone.now(), lift_reason="rotated by hand"
    )
    assert gate(change) is None
    report_checks(pending, ok=False, kind="health", checked_at=later)  # not identity-critical
    assert gate(change) is None
    ReadinessCheck.objects.filter(request=pending).delete()
    assert "have not reported yet" in gate(change)
    settings.READINESS_SYSTEM_VETO = False
    assert gate(change) is None


def test_a_breach_that_ended_before_the_submit_stops_a_change_it_alone_allowed(people, zone_dir):
    service = make_service(
        "paged",
        mode="preapproved_thresholds",
        auth_change=False,
        thresholds=(("error_rate", "gte", 5.0),),
    )
    now = timezone.now()
    Signal.objects.create(
        service=service, metric="error_rate", value=2.0, received_at=now - timedelta(minutes=1)
    )
    firing = Signal.objects.create(
        service=service, metric="error_rate", value=9.0, received_at=now - timedelta(minutes=5)
    )
    Signal.objects.create(  # outside the window
        service=service, metric="error_rate", value=9.0, received_at=now - timedelta(minutes=16)
    )
    request = declare_request(
        actor=user("declarer"), service=service, target="failover", reason="error rate"
    )
    execute_request(actor=user("declarer"), request_id=request.pk)
    change = DnsChange.objects.get(request=request)
    assert gate(change) is None
    firing.status = "resolved"
    firing.save()
    assert "availability approval missing" in gate(change)


# --- break-glass ---------------------------------------------------------------------------


def glass(request, **kw) -> BreakGlass:
    return break_glass(
        actor=user("breakglass"), request_id=request.pk, justification=JUSTIFICATION, **kw
    )


def test_break_glass_overrides_what_it_named_and_nothing_placed_after(pending):
    record_decision(actor=user("vetoer"), request_id=pending.pk, kind="veto", comment="no")
    use = glass(pending, veto_justification="vetoer's concern is handled by the IC")
    change = DnsChange.objects.get(request=pending)
    assert gate(change) is None  # the named veto and the missing approvals are overridden
    late = veto_row(change, "vetoer2")
    assert gate(change) == "vetoed by vetoer2: no"
    # A use of another plan does not count, whatever it named.
    named = [*use.overridden, {"kind": "veto", "id": late.pk, "reason": ""}]
    fields = {"request": pending, "actor": user("breakglass"), "justification": JUSTIFICATION}
    BreakGlass.objects.create(
        **fields, overridden=named, plan_hash="0" * 64, expires_at=use.expires_at
    )
    assert gate(change) == "vetoed by vetoer2: no"
    # The latest use of this plan does.
    BreakGlass.objects.create(
        **fields, overridden=named, plan_hash=pending.plan_hash, expires_at=use.expires_at
    )
    assert gate(change) is None


def test_break_glass_over_pending_checks_does_not_cover_one_that_fails_later(settings, pending):
    settings.READINESS_SYSTEM_VETO = True
    use = glass(pending)
    assert [o["kind"] for o in use.overridden] == ["readiness_pending"]
    change = DnsChange.objects.get(request=pending)
    assert gate(change) is None
    report_checks(pending)
    assert gate(change) is None
    report_checks(pending, ok=False, kind="identity_provider")
    assert "readiness check identity_provider failed" in gate(change)
