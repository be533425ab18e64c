"""Break-glass over the REST API: the same rules, the API's error shape, people only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from approvals.models import BreakGlass, BreakGlassReview, ServiceAccount
from dnsproviders.models import DnsChange
from failover.models import FailoverRequest
from tests.breakglass.conftest import JUSTIFICATION, use, veto
from tests.factories import user
from tests.tokens import personal_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_(people):
    def login(username, **scope):
        api = APIClient()
        _, plain = personal_token(user(username), name="test", **scope)
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
        return api

    return login


def path(request) -> str:
    return f"/api/v1/failover-requests/{request.pk}/break-glass/"


def unchanged(request) -> bool:
    return (
        FailoverRequest.objects.get(pk=request.pk).state == "pending"
        and not BreakGlass.objects.exists()
        and not DnsChange.objects.exists()
    )


def test_a_holder_breaks_the_glass(as_, pending):
    response = as_("breakglass").post(
        path(pending), {"justification": JUSTIFICATION}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["request"] == pending.pk and body["request_state"] == "executing"
    assert body["actor"] == "breakglass" and body["service"] == "shop"
    assert body["skipped_roles"] == ["availability", "identity", "incident_response"]
    assert body["review_open"] is True and body["reviews"] == []
    assert DnsChange.objects.filter(request=pending).count() == 1


@pytest.mark.parametrize(
    ("who", "status"), [("avail", 403), ("executor", 403), ("other", 404), ("outsider", 404)]
)
def test_others_are_refused(as_, pending, who, status):
    response = as_(who).post(path(pending), {"justification": JUSTIFICATION}, format="json")
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"]["authority"] == "break_glass"
    assert unchanged(pending)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "justification"),
        ({"justification": "short"}, "justification"),
        ({"justification": 42}, "justification"),
        ({"justification": JUSTIFICATION, "surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_a_400_that_changes_nothing(as_, pending, body, field):
    response = as_("breakglass").post(path(pending), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert unchanged(pending)


def test_a_standing_veto_needs_its_own_justification(as_, pending):
    veto(pending)
    api = as_("breakglass")
    response = api.post(path(pending), {"justification": JUSTIFICATION}, format="json")
    assert response.status_code == 400
    assert "vetoer" in response.json()["error"]["fields"]["veto_justification"][0]
    assert unchanged(pending)
    response = api.post(
        path(pending),
        {"justification": JUSTIFICATION, "veto_justification": "vetoer overruled by the IC"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["overridden"][0]["kind"] == "veto"


def test_service_account_tokens_are_refused_with_a_reason(as_, pending, service):
    bot = user("pager-bot")
    ServiceAccount.objects.create(user=bot)
    # A direct grant is refused (a human act); through a group it is held but never usable.
    bot.groups.add(Group.objects.get(name=f"{service.slug} break_glass"))
    response = as_("pager-bot").post(path(pending), {"justification": JUSTIFICATION}, format="json")
    assert response.status_code == 403
    # Its token reads and declares only (issue 14): break-glass needs `execute`, a person's.
    assert response.json()["error"]["code"] == "token_scope"
    assert "execute" in response.json()["error"]["message"]
    assert unchanged(pending)


def test_a_token_not_scoped_for_execute_is_refused(as_, pending):
    api = as_("breakglass", actions=["read", "decide"])
    response = api.post(path(pending), {"justification": JUSTIFICATION}, format="json")
    assert response.status_code == 403 and unchanged(pending)


def test_idempotent_replay_breaks_the_glass_once(as_, pending):
    api = as_("breakglass")
    first = api.post(
        path(pending), {"justification": JUSTIFICATION}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    again = api.post(
        path(pending), {"justification": JUSTIFICATION}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and first.json() == again.json()
    assert BreakGlass.objects.count() == 1


def test_reviews_and_the_list_of_open_items(as_, pending):
    used = use(pending)
    reviews = f"/api/v1/break-glass/{used.pk}/reviews/"
    assert as_("breakglass").post(reviews, {"comment": "mine"}, format="json").status_code == 403
    assert as_("outsider").post(reviews, {"comment": "x"}, format="json").status_code == 404
    assert as_("avail").post(reviews, {"comment": ""}, format="json").status_code == 400
    assert not BreakGlassReview.objects.exists()
    listing = as_("avail").get("/api/v1/break-glass/?open=true").json()
    assert [item["id"] for item in listing["results"]] == [used.pk]
    assert as_("avail").get("/api/v1/break-glass/?open=maybe").status_code == 400
    assert as_("outsider").get("/api/v1/break-glass/").json()["results"] == []
    response = as_("avail").post(reviews, {"comment": "justified"}, format="json")
    assert response.status_code == 201 and response.json()["review_open"] is True
    response = as_("identity").post(reviews, {"comment": "agreed"}, format="json")
    body = response.json()
    assert body["review_open"] is False
    assert [(r["reviewer"], r["holds_approve_identity"]) for r in body["reviews"]] == [
        ("avail", False),
        ("identity", True),
    ]
    assert as_("avail").get("/api/v1/break-glass/?open=true").json()["results"] == []
    closed = as_("avail").get("/api/v1/break-glass/?open=false").json()["results"]
    assert [item["id"] for item in closed] == [used.pk]
    assert as_("avail").get(f"/api/v1/break-glass/{used.pk}/").json()["id"] == used.pk
    assert as_("outsider").get(f"/api/v1/break-glass/{used.pk}/").status_code == 404
    again = as_("avail").post(reviews, {"comment": "twice"}, format="json")
    assert again.status_code == 409


def test_the_schema_documents_the_endpoints(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/failover-requests/{id}/break-glass/" in schema["paths"]
    assert "/api/v1/break-glass/{id}/reviews/" in schema["paths"]
    assert "/api/v1/break-glass/" in schema["paths"]
