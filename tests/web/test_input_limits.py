"""Over-long input through the browser's forms: refused with a 4xx that names the limit,
nothing changed, what was typed kept; never cut to fit. The pages carry no `maxlength` that
would let a browser cut a paste silently."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache

from approvals.breakglass import MAX_TEXT
from approvals.models import BreakGlass, Decision
from approvals.readiness.models import SecretAttestation
from approvals.readiness.services import MAX_REASON as MAX_READINESS_TEXT
from approvals.services import MAX_COMMENT
from failover.models import FailoverRequest
from failover.services import MAX_REASON
from tests.web.first_screen_world import applied, declared_and_checked
from tests.web.test_pages import DECLARE

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()  # the step-up lockout counts failures in the cache
    yield
    cache.clear()


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def cuts_silently(page: str) -> list[str]:
    """Free-text fields a browser would cut at a `maxlength` (codes and passwords may keep
    theirs: nothing meaningful is lost there)."""
    fields = re.findall(r"<(?:textarea|input type=\"text\")[^>]*>", page)
    return [
        f
        for f in fields
        if "maxlength" in f and "one-time-code" not in f and "recovery_code" not in f
    ]


def limit_named(page: str, limit: int, length: int) -> bool:
    return f"at most {limit} characters (it has {length})" in page


@pytest.mark.parametrize(
    ("field", "limit"),
    [("reason", MAX_REASON), ("incident_ref", 200), ("notes", 2000)],
)
def test_declare_refuses_over_long_text_naming_the_limit(signed_in, demo, field, limit):
    client = signed_in("ic")
    typed = "x" * (limit + 1)
    response = client.post("/declare/", {**DECLARE, field: typed})
    assert response.status_code == 400
    assert limit_named(text(response), limit, limit + 1)
    assert typed in response.content.decode()  # kept as typed, for the person to shorten
    assert not FailoverRequest.objects.exists()
    # At the limit it is taken whole.
    assert client.post("/declare/", {**DECLARE, field: "y" * limit}).status_code == 302
    declared = FailoverRequest.objects.get()
    stored = declared.rollback_criteria["notes"] if field == "notes" else getattr(declared, field)
    assert stored == "y" * limit


def test_pages_carry_no_maxlength_that_cuts_silently(signed_in, demo):
    page = signed_in("ic").get("/declare/").content.decode()
    assert cuts_silently(page) == []
    assert f"At most {MAX_REASON} characters." in page


def test_a_decision_comment_over_the_limit_is_refused(signed_in, demo):
    request = declared_and_checked()
    client = signed_in("avail")
    typed = "c" * (MAX_COMMENT + 1)
    response = client.post(
        f"/requests/{request.pk}/",
        {
            "kind": "approve",
            "role": "availability",
            "plan_hash": request.plan_hash,
            "comment": typed,
            "password": "demo",
        },
    )
    assert response.status_code == 400
    assert limit_named(text(response), MAX_COMMENT, MAX_COMMENT + 1)
    assert not Decision.objects.exists()


def test_an_attestation_comment_is_refused_not_cut_to_the_evidence_limit(signed_in, demo):
    """The readiness services keep an attestation's comment to 2000 characters by cutting it:
    the page refuses longer ones instead, as the API does."""
    request = declared_and_checked()
    client = signed_in("identity")
    before = SecretAttestation.objects.count()
    typed = "a" * (MAX_READINESS_TEXT + 1)
    response = client.post(
        f"/requests/{request.pk}/",
        {
            "kind": "attest",
            "secret_name": "oidc_client_secret",
            "rotated_at": "2026-11-01T09:30",
            "comment": typed,
            "password": "demo",
        },
    )
    assert response.status_code == 400
    assert limit_named(text(response), MAX_READINESS_TEXT, MAX_READINESS_TEXT + 1)
    assert SecretAttestation.objects.count() == before


def test_a_rollback_reason_over_the_limit_is_refused(signed_in, demo):
    request = applied()
    response = signed_in("executor").post(
        f"/requests/{request.pk}/",
        {
            "kind": "rollback",
            "plan_hash": request.plan_hash,
            "comment": "r" * (MAX_COMMENT + 1),
            "password": "demo",
        },
    )
    assert response.status_code == 400
    assert limit_named(text(response), MAX_COMMENT, MAX_COMMENT + 1)
    assert FailoverRequest.objects.get(pk=request.pk).state == "applied"


def test_a_break_glass_justification_over_the_limit_is_refused(signed_in, demo):
    request = declared_and_checked()
    client = signed_in("ic")
    page = client.get(f"/requests/{request.pk}/break-glass/").content.decode()
    assert cuts_silently(page) == [] and f"At most {MAX_TEXT} characters." in page
    response = client.post(
        f"/requests/{request.pk}/break-glass/",
        {
            "justification": "j" * (MAX_TEXT + 1),
            "veto_justification": "",
            "plan_hash": request.plan_hash,
            "password": "demo",
        },
    )
    assert response.status_code == 400
    assert limit_named(text(response), MAX_TEXT, MAX_TEXT + 1)
    assert not BreakGlass.objects.exists()


def test_declaring_over_an_applied_failover_says_roll_back_not_cancel(signed_in, demo):
    request = applied()
    # Back to primary: the one target not active now.
    response = signed_in("ic").post("/declare/", {**DECLARE, "destination": "checkout/primary"})
    assert response.status_code == 409, text(response)[-2000:]
    page = text(response)
    assert "roll it back first" in page
    assert "cancel it first" not in page
    assert f'href="/requests/{request.pk}/"' in page
