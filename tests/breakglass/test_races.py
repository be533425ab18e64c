"""Break-glass racing other people, on PostgreSQL's real row locks: one execution, one close."""

from __future__ import annotations

import pytest

from approvals.breakglass import record_review
from approvals.models import BreakGlass, BreakGlassReview
from audit.models import AuditEvent
from audit.verify import verify_chain
from dnsproviders.models import DnsChange
from failover.services import declare_request, grant_authority
from tests.approvals.test_concurrency import approve, race
from tests.breakglass.conftest import use
from tests.factories import make_service, user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 5


def declared(slug: str):
    service = make_service(slug, auth_change=False, policy={"execute_on_approval": True})
    return declare_request(actor=user("declarer"), service=service, target="failover", reason="r")


def executions(request) -> int:
    return AuditEvent.objects.filter(
        action="request.state_changed", object_id=str(request.pk), data__to="executing"
    ).count()


def test_break_glass_racing_the_last_approval_executes_once():
    for i in range(ROUNDS):
        request = declared(f"bg-race-{i}")
        approve("avail", request, "availability")()
        race(lambda r=request: use(r), approve("identity", request, "identity"))
        request.refresh_from_db()
        assert request.state == "executing"
        assert executions(request) == 1
        assert DnsChange.objects.filter(request=request).count() == 1
    assert verify_chain().ok


def test_two_holders_breaking_the_glass_at_once_use_it_once():
    for i in range(ROUNDS):
        request = declared(f"bg-twice-{i}")
        grant_authority(
            actor=None, service=request.service, authority="break_glass", user=user("bg2")
        )
        race(lambda r=request: use(r), lambda r=request: use(r, "bg2"))
        assert BreakGlass.objects.filter(request=request).count() == 1
        assert executions(request) == 1
        assert DnsChange.objects.filter(request=request).count() == 1


def test_the_closing_reviews_at_once_close_it_once():
    for i in range(ROUNDS):
        used = use(declared(f"bg-review-{i}"))
        race(
            lambda u=used: record_review(actor=user("avail"), break_glass_id=u.pk, comment="ok"),
            lambda u=used: record_review(actor=user("identity"), break_glass_id=u.pk, comment="ok"),
        )
        assert BreakGlassReview.objects.filter(break_glass=used).count() == 2
        assert not BreakGlass.objects.get(pk=used.pk).review_open
        closed = AuditEvent.objects.filter(
            action="break_glass.review_closed", data__break_glass_id=used.pk
        )
        assert closed.count() == 1
    assert verify_chain().ok
