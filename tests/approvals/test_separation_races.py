"""Separation of duties under concurrency: 200 races of two people acting on one request at the
same moment, on PostgreSQL's row locks. Whatever the interleaving, the outcome is one of the
serialisations the rules allow: never executed while vetoed, never executed twice."""

from __future__ import annotations

import pytest

from approvals.execution import execute_request
from approvals.models import Decision
from approvals.services import record_decision
from audit.verify import verify_chain
from dnsproviders.models import DnsChange
from failover.errors import Blocked, WrongState
from failover.models import FailoverRequest
from failover.services import cancel_request, declare_request
from tests.approvals.test_concurrency import race
from tests.factories import make_service, user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 50  # per scenario; four scenarios make 200 races


def declared(service) -> FailoverRequest:
    return declare_request(actor=user("declarer"), service=service, target="failover", reason="r")


def decide(username, request, kind, role=""):
    return lambda: record_decision(
        actor=user(username),
        request_id=request.pk,
        kind=kind,
        role=role,
        plan_hash=request.plan_hash,
        comment="race" if kind == "veto" else "",
    )


def execute(username, request):
    return lambda: execute_request(actor=user(username), request_id=request.pk)


def approved(service) -> FailoverRequest:
    request = declared(service)
    decide("avail", request, "approve", "availability")()
    decide("identity", request, "approve", "identity")()
    request.refresh_from_db()
    assert request.state == "approved"
    return request


def lift(request, veto):
    return lambda: record_decision(
        actor=user("vetoer"),
        request_id=request.pk,
        kind="lift_veto",
        veto_id=veto.pk,
        comment="checked",
    )


def standing_vetoes(request) -> int:
    return Decision.objects.filter(request=request, kind="veto", lifted_by__isnull=True).count()


def close(request) -> None:
    request.refresh_from_db()
    if request.state in ("pending", "approved"):
        cancel_request(actor=user("declarer"), request_id=request.pk)
    else:  # executing: end it so the service can take the next round
        FailoverRequest.objects.filter(pk=request.pk).update(state="failed")


def test_veto_against_execute_never_executes_a_vetoed_request():
    service = make_service("sod-veto-exec", auth_change=False)
    for _ in range(ROUNDS):
        request = approved(service)
        veto, run = race(decide("vetoer", request, "veto"), execute("executor", request))
        request.refresh_from_db()
        changes = DnsChange.objects.filter(request=request).count()
        if isinstance(run, Blocked):  # the veto came first
            assert isinstance(veto, Decision) and request.state in ("pending", "approved")
            assert changes == 0
        else:  # execution came first: the veto finds the request no longer open
            assert isinstance(run, FailoverRequest), run
            assert isinstance(veto, WrongState), veto
            assert request.state == "executing" and standing_vetoes(request) == 0
            assert changes == 1
        close(request)
    assert verify_chain().ok


def test_two_executors_at_once_execute_exactly_once():
    service = make_service("sod-exec-exec", auth_change=False)
    from failover.services import grant_authority

    grant_authority(actor=None, service=service, authority="execute", user=user("executor2"))
    for _ in range(ROUNDS):
        request = approved(service)
        results = race(execute("executor", request), execute("executor2", request))
        done = [r for r in results if isinstance(r, FailoverRequest)]
        assert len(done) == 1, results
        assert all(isinstance(r, WrongState) for r in results if r not in done), results
        assert DnsChange.objects.filter(request=request).count() == 1
        close(request)


def test_last_approval_with_auto_execute_against_a_veto():
    service = make_service(
        "sod-approve-veto", auth_change=False, policy={"execute_on_approval": True}
    )
    for _ in range(ROUNDS):
        request = declared(service)
        decide("avail", request, "approve", "availability")()
        approval, veto = race(
            decide("identity", request, "approve", "identity"), decide("vetoer", request, "veto")
        )
        request.refresh_from_db()
        changes = DnsChange.objects.filter(request=request).count()
        if request.state == "executing":  # approval (and its execution) came first
            assert isinstance(approval, Decision) and isinstance(veto, WrongState), (approval, veto)
            assert changes == 1 and standing_vetoes(request) == 0
        else:  # the veto came first: the approval counts, nothing runs
            assert isinstance(veto, Decision), veto
            assert standing_vetoes(request) == 1 and changes == 0
        close(request)


def test_lifting_a_veto_against_a_second_veto():
    service = make_service("sod-lift-veto", auth_change=False, policy={"execute_on_approval": True})
    for _ in range(ROUNDS):
        request = declared(service)
        first = decide("vetoer", request, "veto")()
        decide("avail", request, "approve", "availability")()
        decide("identity", request, "approve", "identity")()  # approved, held by the veto
        lifted, second = race(lift(request, first), decide("vetoer2", request, "veto"))
        request.refresh_from_db()
        changes = DnsChange.objects.filter(request=request).count()
        assert isinstance(lifted, Decision), lifted
        if request.state == "executing":  # the lift came first and executed on approval
            assert isinstance(second, WrongState), second
            assert standing_vetoes(request) == 0 and changes == 1
        else:  # the second veto came first: it stands, nothing ran
            assert isinstance(second, Decision), second
            assert standing_vetoes(request) == 1 and changes == 0
        close(request)
