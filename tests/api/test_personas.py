"""Every request endpoint against every kind of caller who must be kept out."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.tokens import revoke_token
from failover.models import FailoverRequest, Service
from failover.services import declare_request
from tests.factories import user
from tests.tokens import personal_token

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "{id}/", None),
    ("post", "{id}/decisions/", {"kind": "approve", "role": "availability", "plan_hash": "x"}),
    ("post", "{id}/execute/", None),
    ("post", "{id}/rollback/", {"reason": "r"}),
    ("post", "{id}/cancel/", {"reason": "r"}),
]


def bearer(api, plain):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return api


def caller(api, kind):
    if kind == "anonymous":
        return api
    if kind in ("other", "outsider"):
        return bearer(api, personal_token(user(kind), name="t")[1])
    if kind == "expired":
        token, plain = personal_token(
            user("avail"), name="t", expires_at=timezone.now() + timedelta(seconds=5)
        )
        token.expires_at = timezone.now() - timedelta(seconds=1)
        token.save()
        return bearer(api, plain)
    if kind == "revoked":
        token, plain = personal_token(user("avail"), name="t")
        revoke_token(token=token, actor=None)
        return bearer(api, plain)
    if kind == "scoped_to_elsewhere":
        elsewhere = Service.objects.get(slug="elsewhere")
        return bearer(api, personal_token(user("avail"), name="t", services=[elsewhere])[1])
    raise AssertionError(kind)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("anonymous", 401),
        ("expired", 401),
        ("revoked", 401),
        ("other", 404),
        ("outsider", 404),
        ("scoped_to_elsewhere", 404),
    ],
)
def test_kept_out(shop, elsewhere, api, method, path, body, kind, status):
    request = declare_request(
        actor=user("declarer"), service=shop, target="failover", reason="down"
    )
    client = caller(api, kind)
    url = "/api/v1/failover-requests/" + path.format(id=request.pk)
    response = getattr(client, method)(url, body, format="json")
    assert response.status_code == status, response.content
    assert "error" in response.json()
    request.refresh_from_db()
    assert request.state == "pending" and not request.decisions.exists()
    assert FailoverRequest.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "body", "action"),
    [
        (
            "{id}/decisions/",
            {"kind": "approve", "role": "availability", "plan_hash": "x"},
            "decide",
        ),
        ("{id}/execute/", None, "execute"),
        ("{id}/rollback/", {"reason": "r"}, "rollback"),
        ("{id}/cancel/", {"reason": "r"}, "cancel"),
    ],
)
def test_a_token_scoped_to_reading_acts_on_nothing(shop, api, path, body, action):
    request = declare_request(
        actor=user("declarer"), service=shop, target="failover", reason="down"
    )
    client = bearer(api, personal_token(user("declarer"), name="t", actions=["read"])[1])
    response = client.post(
        "/api/v1/failover-requests/" + path.format(id=request.pk), body, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "token_scope"
    assert action in response.json()["error"]["message"]
