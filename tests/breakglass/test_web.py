"""Break-glass in the browser, through Django's test client: the form shows what is skipped
and every standing veto, refuses without changing anything, and the review items show on the
dashboard until closed."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from approvals.breakglass import record_review
from approvals.models import BreakGlass
from dnsproviders.models import DnsChange
from failover.models import FailoverRequest
from tests.breakglass.conftest import JUSTIFICATION, use, veto
from tests.factories import run_worker, user

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse"


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()  # the step-up lockout counts failures in the cache
    yield
    cache.clear()


@pytest.fixture
def as_(client, people):
    def sign_in(username):
        person = user(username)
        person.set_password(PASSWORD)
        person.save()
        client.force_login(person)
        return client

    return sign_in


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def url(request) -> str:
    return reverse("break-glass", args=[request.pk])


def form(request, **fields) -> dict:
    return {
        "justification": JUSTIFICATION,
        "veto_justification": "",
        "plan_hash": request.plan_hash,
        "password": PASSWORD,
        **fields,
    }


def unchanged(request) -> bool:
    return (
        FailoverRequest.objects.get(pk=request.pk).state == "pending"
        and not BreakGlass.objects.exists()
        and not DnsChange.objects.exists()
    )


def test_the_form_shows_what_is_skipped_and_the_standing_veto(as_, pending):
    veto(pending)
    page = text(as_("breakglass").get(url(pending)))
    assert "What you skip" in page
    assert "identity approval (0 of 1) — would be given by identity, identity2" in page
    assert "Standing veto:</strong> vetoed by vetoer: the US identity provider rejects EU" in page
    assert 'name="veto_justification"' in page
    assert pending.plan_hash[:12] in page and "203.0.113.1" in page
    assert "60 min" in page


def test_without_a_veto_there_is_no_second_justification(as_, pending):
    page = text(as_("breakglass").get(url(pending)))
    assert 'name="justification"' in page and 'name="veto_justification"' not in page


def test_non_holders_get_403_and_outsiders_404(as_, pending):
    response = as_("avail").get(url(pending))
    assert response.status_code == 403
    assert "do not hold the break-glass authority" in text(response)
    assert 'name="justification"' not in text(response)
    response = as_("avail").post(url(pending), form(pending))
    assert response.status_code == 403 and unchanged(pending)
    assert as_("outsider").get(url(pending)).status_code == 404
    assert as_("other").post(url(pending), form(pending)).status_code == 404
    assert unchanged(pending)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": ""}, "enter your password to confirm"),
        ({"password": "wrong"}, "that is not your password"),
        ({"justification": ""}, "why the normal approvals cannot be waited for"),
        ({"plan_hash": "0" * 64}, "the plan has changed"),
    ],
)
def test_refusals_change_nothing(as_, pending, fields, message):
    response = as_("breakglass").post(url(pending), form(pending, **fields))
    assert response.status_code in (400, 409)
    assert message in text(response)
    assert unchanged(pending)


def test_a_veto_must_be_named_then_the_glass_breaks(as_, pending):
    veto(pending)
    client = as_("breakglass")
    response = client.post(url(pending), form(pending, veto_justification="accepted"))
    assert response.status_code == 400
    assert "the veto of vetoer" in text(response) and unchanged(pending)
    response = client.post(
        url(pending), form(pending, veto_justification="vetoer's concern is accepted")
    )
    assert response.status_code == 302 and response["Location"] == f"/requests/{pending.pk}/"
    assert FailoverRequest.objects.get(pk=pending.pk).state == "executing"
    used = BreakGlass.objects.get()
    assert used.overridden[0]["kind"] == "veto"
    page = text(client.get(response["Location"]))
    assert "Glass broken: executing now." in page
    assert "Break-glass by breakglass" in page
    assert reverse("break-glass-review", args=[used.pk]) in page
    # The veto stays on the record, marked as overridden rather than as stopping everything.
    assert "Overridden by break-glass (breakglass" in page
    assert "Nothing executes until the veto is lifted" not in page
    # The approvals it went without say so, rather than waiting for them.
    assert "○ Waiting" not in page
    assert page.count("⚠ Skipped") == len(used.skipped_roles) >= 2
    assert "Went without it: break-glass by breakglass" in page


def test_the_request_page_links_to_break_glass_for_holders_while_open(as_, pending):
    link = f'href="{url(pending)}"'
    assert link in text(as_("breakglass").get(f"/requests/{pending.pk}/"))
    assert link not in text(as_("avail").get(f"/requests/{pending.pk}/"))
    use(pending)
    assert link not in text(as_("breakglass").get(f"/requests/{pending.pk}/"))
    page = text(as_("breakglass").get(url(pending)))
    assert "only a pending or approved request" in page


def test_the_grant_offers_its_rollback_on_the_request_page(as_, pending):
    use(pending)
    run_worker(pending)
    client = as_("breakglass")
    page = text(client.get(f"/requests/{pending.pk}/"))
    assert "Roll back (break-glass grant)" in page
    assert "Roll back (break-glass grant)" not in text(
        as_("rollbacker").get(f"/requests/{pending.pk}/")
    )
    client = as_("breakglass")
    response = client.post(
        f"/requests/{pending.pk}/",
        {"kind": "rollback", "plan_hash": pending.plan_hash, "comment": "", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert FailoverRequest.objects.get(pk=pending.pk).state == "rolling_back"


def test_the_dashboard_lists_open_review_items_until_closed(as_, pending):
    used = use(pending)
    review = reverse("break-glass-review", args=[used.pk])
    page = text(as_("avail").get("/"))
    assert "Break-glass to review" in page and review in page
    assert "Glass broken by <strong>breakglass</strong>" in page
    assert "Break-glass to review" not in text(as_("outsider").get("/"))
    record_review(actor=user("avail"), break_glass_id=used.pk, comment="fine")
    record_review(actor=user("identity"), break_glass_id=used.pk, comment="fine too")
    assert "Break-glass to review" not in text(as_("avail").get("/"))


def test_the_review_page_records_reviews_and_refuses_the_user(as_, pending):
    used = use(pending)
    review = reverse("break-glass-review", args=[used.pk])
    page = text(as_("breakglass").get(review))
    assert JUSTIFICATION in page and "You broke the glass here" in page
    response = as_("breakglass").post(review, {"comment": "all good"})
    assert response.status_code == 403 and not used.reviews.exists()
    assert as_("outsider").get(review).status_code == 404
    assert as_("avail").post(review, {"comment": ""}).status_code == 400
    response = as_("avail").post(review, {"comment": "justified, the lead was unreachable"})
    assert response.status_code == 302
    page = text(as_("avail").get(review))
    assert "justified, the lead was unreachable" in page and "You have reviewed this use" in page
    as_("identity").post(review, {"comment": "agreed"})
    page = text(as_("identity").get(review))
    assert "closed" in page and "(identity approver)" in page
