"""Races between people acting at the same moment, on PostgreSQL's real row locks."""

import pytest

from approvals.models import Decision
from approvals.services import record_decision
from audit.models import AuditEvent
from audit.verify import verify_chain
from failover.errors import ServiceError
from failover.services import cancel_request, declare_request
from tests.factories import make_service, user
from tests.harness.races import race as shared_race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 10


def race(*calls):
    return shared_race(*calls, expected=(ServiceError,))


def approve(username, request, role):
    return lambda: record_decision(
        actor=user(username),
        request_id=request.pk,
        kind="approve",
        role=role,
        plan_hash=request.plan_hash,
    )


def test_two_people_approving_the_same_role_at_once_count_once():
    service = make_service("race1", auth_change=False)
    for _ in range(ROUNDS):
        request = declare_request(
            actor=user("declarer"), service=service, target="failover", reason="race"
        )
        results = race(
            approve("avail", request, "availability"), approve("avail2", request, "availability")
        )
        assert sum(isinstance(r, Decision) for r in results) == 1, results
        assert Decision.objects.filter(request=request, role="availability").count() == 1
        cancel_request(actor=user("declarer"), request_id=request.pk)


def test_one_person_approving_twice_at_once_counts_once():
    service = make_service("race2", auth_change=False)
    for _ in range(ROUNDS):
        request = declare_request(
            actor=user("declarer"), service=service, target="failover", reason="race"
        )
        race(approve("avail", request, "availability"), approve("avail", request, "availability"))
        assert Decision.objects.filter(request=request).count() == 1
        cancel_request(actor=user("declarer"), request_id=request.pk)


def test_the_last_two_approvals_at_once_approve_exactly_once():
    service = make_service("race3", auth_change=False)
    for _ in range(ROUNDS):
        request = declare_request(
            actor=user("declarer"), service=service, target="failover", reason="race"
        )
        results = race(
            approve("avail", request, "availability"), approve("identity", request, "identity")
        )
        assert all(isinstance(r, Decision) for r in results), results
        request.refresh_from_db()
        assert request.state == "approved"
        transitions = AuditEvent.objects.filter(
            action="request.state_changed", object_id=str(request.pk), data__to="approved"
        )
        assert transitions.count() == 1
        cancel_request(actor=user("declarer"), request_id=request.pk)
    assert verify_chain().ok


def test_two_commanders_declaring_at_once_open_one_request():
    service = make_service("race4", auth_change=False, chain=None)
    from failover.services import grant_authority

    grant_authority(actor=None, service=service, authority="declare", user=user("declarer2"))
    for _ in range(ROUNDS):
        results = race(
            lambda: declare_request(
                actor=user("declarer"), service=service, target="failover", reason="a"
            ),
            lambda: declare_request(
                actor=user("declarer2"), service=service, target="failover", reason="b"
            ),
        )
        opened = [r for r in results if not isinstance(r, ServiceError)]
        assert len(opened) == 1, results
        cancel_request(actor=user("declarer"), request_id=opened[0].pk)
