"""The post-incident review of a break-glass use: who may review, and when the item closes."""

from __future__ import annotations

import pytest

from approvals.breakglass import open_reviews_for, record_review
from approvals.models import BreakGlass, BreakGlassReview
from audit.models import AuditEvent
from failover.errors import AlreadyDecided, InvalidInput, NotAuthorised, NotFound
from tests.breakglass.conftest import use
from tests.factories import user

pytestmark = pytest.mark.django_db


def review(used, who, comment="justified: nobody could reach the identity lead"):
    return record_review(actor=user(who), break_glass_id=used.pk, comment=comment)


def is_open(used) -> bool:
    return BreakGlass.objects.get(pk=used.pk).review_open


def test_the_user_cannot_review_their_own_use(pending):
    used = use(pending)
    with pytest.raises(NotAuthorised) as refused:
        review(used, "breakglass")
    assert "two other people" in refused.value.message
    assert not BreakGlassReview.objects.exists()


@pytest.mark.parametrize("who", ["outsider", "other"])
def test_people_without_authority_on_the_service_cannot_review(pending, who):
    used = use(pending)
    with pytest.raises(NotAuthorised):
        review(used, who)
    assert not BreakGlassReview.objects.exists()


def test_a_review_needs_a_comment_and_is_given_once(pending):
    used = use(pending)
    with pytest.raises(InvalidInput) as refused:
        review(used, "avail", comment="  ")
    assert "comment" in refused.value.fields
    review(used, "avail")
    with pytest.raises(AlreadyDecided):
        review(used, "avail", comment="again")
    assert BreakGlassReview.objects.count() == 1


def test_an_unknown_use_is_not_found(pending):
    with pytest.raises(NotFound):
        record_review(actor=user("avail"), break_glass_id=999, comment="x")


def test_two_reviews_without_an_identity_approver_leave_it_open(pending):
    used = use(pending)
    review(used, "avail")
    review(used, "ir")
    assert is_open(used)
    assert not AuditEvent.objects.filter(action="break_glass.review_closed").exists()
    assert [r.holds_approve_identity for r in BreakGlassReview.objects.all()] == [False, False]
    review(used, "identity")
    assert not is_open(used)


def test_one_identity_approver_alone_is_not_enough(pending):
    used = use(pending)
    review(used, "identity")
    assert is_open(used)
    review(used, "avail")
    assert not is_open(used)
    closed = AuditEvent.objects.get(action="break_glass.review_closed")
    assert closed.data == {"break_glass_id": used.pk, "reviewers": ["identity", "avail"]}
    reviewed = AuditEvent.objects.filter(action="break_glass.reviewed")
    assert [e.actor for e in reviewed.order_by("seq")] == ["identity", "avail"]
    assert reviewed.first().data["holds_approve_identity"] is True


def test_open_items_are_listed_for_people_on_the_service_only(pending):
    used = use(pending)
    assert [u.pk for u in open_reviews_for(user("avail"))] == [used.pk]
    assert open_reviews_for(user("other")) == [] == open_reviews_for(user("outsider"))
    mine = open_reviews_for(user("breakglass"))[0]
    assert not mine.may_review
    review(used, "identity")
    item = open_reviews_for(user("identity"))[0]
    assert item.reviewed_by_user and not item.may_review and item.review_count == 1
    review(used, "avail")
    assert open_reviews_for(user("avail")) == []
