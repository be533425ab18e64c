"""The failover-request endpoints through HTTP, with every persona and token kind."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.tokens import revoke_token
from dnsproviders import tasks
from dnsproviders.models import DnsChange
from failover.models import FailoverRequest
from tests.factories import user
from tests.tokens import personal_token

pytestmark = pytest.mark.django_db
URL = "/api/v1/failover-requests/"
DECLARE = {
    "service": "shop",
    "target": "failover",
    "reason": "eu-west-1 down",
    "incident_ref": "INC-1",
}


def declared(as_user):
    response = as_user("declarer").post(URL, DECLARE, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def decide(as_user, who, request_id, **body):
    return as_user(who).post(f"{URL}{request_id}/decisions/", body, format="json")


def test_declare_reads_back_the_contract(shop, as_user):
    body = declared(as_user)
    assert body["state"] == "pending" and body["service"] == "shop"
    assert body["target"] == "failover" and body["from_target"] == "primary"
    assert body["plan"]["changes"][0]["new"] == ["203.0.113.1"]
    assert [m["role"] for m in body["missing"]] == ["availability", "identity", "incident_response"]
    assert body["blocked_by"] == [] and body["decisions"] == [] and body["changes"] == []
    assert len(body["auth_changes"]) == 3
    assert FailoverRequest.objects.get().requester.username == "declarer"


@pytest.mark.parametrize(("who", "status"), [("avail", 403), ("other", 404), ("outsider", 404)])
def test_declare_personas(shop, elsewhere, as_user, who, status):
    response = as_user(who).post(URL, DECLARE, format="json")
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"] == {
            "code": "not_authorised",
            "authority": "declare",
            "message": "you do not hold the 'declare' authority on service 'shop'",
        }
    assert not FailoverRequest.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**DECLARE, "reason": ""}, "reason"),
        ({**DECLARE, "target": "nowhere"}, "target"),
        (
            {**DECLARE, "rollback_criteria": {"min_minutes_on_target": "soon"}},
            "rollback_criteria.min_minutes_on_target",
        ),
        ({"service": "shop"}, "target"),
        ({**DECLARE, "segment": 7}, "segment"),
    ],
)
def test_declare_bad_input_is_400_with_fields(shop, as_user, body, field):
    response = as_user("declarer").post(URL, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"], error
    assert not FailoverRequest.objects.exists()


def test_garbage_bodies_never_500(shop, as_user):
    client = as_user("declarer")
    for raw, content_type in [
        ("{", "application/json"),
        ("[]", "application/json"),
        ("a=b", "application/x-www-form-urlencoded"),
        ('{"service": {"x": 1}}', "application/json"),
        ('"just a string"', "application/json"),
    ]:
        response = client.post(URL, raw, content_type=content_type)
        assert 400 <= response.status_code < 500, (raw, response.status_code)
        assert "error" in response.json()


def test_list_and_detail_see_only_visible_services(shop, elsewhere, as_user):
    body = declared(as_user)
    assert as_user("avail").get(URL).json()["results"][0]["id"] == body["id"]
    assert as_user("other").get(URL).json()["results"] == []
    assert as_user("other").get(f"{URL}{body['id']}/").status_code == 404
    assert as_user("outsider").get(f"{URL}{body['id']}/").status_code == 404
    assert as_user("avail").get(f"{URL}{body['id']}/").json()["plan_hash"] == body["plan_hash"]
    for query, count in [
        ("?service=shop", 1),
        ("?service=elsewhere", 0),
        ("?state=pending", 1),
        ("?state=applied", 0),
        ("?incident_ref=INC-1", 1),
    ]:
        assert len(as_user("avail").get(URL + query).json()["results"]) == count, query
    assert as_user("avail").get(URL + "?state=bogus").status_code == 400


def test_full_flow_over_the_api(shop, as_user):
    body = declared(as_user)
    rid, plan = body["id"], body["plan_hash"]
    assert (
        decide(
            as_user, "avail", rid, kind="approve", role="availability", plan_hash=plan
        ).status_code
        == 201
    )
    assert (
        decide(
            as_user, "identity", rid, kind="approve", role="identity", plan_hash=plan
        ).status_code
        == 201
    )
    veto = decide(as_user, "vetoer", rid, kind="veto", comment="IdP keys")
    assert veto.json()["blocked_by"][0]["code"] == "veto"
    assert (
        decide(
            as_user, "ir", rid, kind="sign_off", role="incident_response", plan_hash=plan
        ).json()["state"]
        == "approved"
    )
    refused = as_user("executor").post(f"{URL}{rid}/execute/")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "blocked"
    assert "vetoed by vetoer: IdP keys" in refused.json()["error"]["message"]
    assert decide(as_user, "vetoer", rid, kind="lift_veto").status_code == 201
    assert as_user("avail").post(f"{URL}{rid}/execute/").status_code == 403
    executed = as_user("executor").post(f"{URL}{rid}/execute/")
    assert executed.status_code == 200 and executed.json()["state"] == "executing"
    tasks.apply_change(DnsChange.objects.get().pk)
    applied = as_user("avail").get(f"{URL}{rid}/").json()
    assert applied["state"] == "applied"
    assert applied["changes"][0]["status"] == "verified"
    assert as_user("executor").post(f"{URL}{rid}/rollback/").status_code == 403
    rolled = as_user("rollbacker").post(
        f"{URL}{rid}/rollback/", {"reason": "EU back"}, format="json"
    )
    assert rolled.json()["state"] == "rolling_back"


def test_a_stale_plan_hash_is_409_with_the_current_hash(shop, as_user):
    body = declared(as_user)
    response = decide(
        as_user, "avail", body["id"], kind="approve", role="availability", plan_hash="0" * 64
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "plan_changed"
    assert response.json()["error"]["current_plan_hash"] == body["plan_hash"]


def test_own_request_and_conflicts(shop, as_user):
    body = declared(as_user)
    again = as_user("declarer").post(URL, DECLARE, format="json")
    assert again.status_code == 409 and f"#{body['id']}" in again.json()["error"]["message"]
    cancel = as_user("declarer").post(
        f"{URL}{body['id']}/cancel/", {"reason": "drill"}, format="json"
    )
    assert cancel.json()["state"] == "cancelled"
    late = decide(
        as_user,
        "avail",
        body["id"],
        kind="approve",
        role="availability",
        plan_hash=body["plan_hash"],
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "wrong_state"
    assert as_user("avail").post(f"{URL}999999/cancel/").status_code == 404


def test_idempotent_replay_and_key_reuse(shop, as_user):
    client = as_user("declarer")
    first = client.post(URL, DECLARE, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(URL, DECLARE, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert FailoverRequest.objects.count() == 1
    other = client.post(
        URL, {**DECLARE, "reason": "different"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # The same key from another caller is theirs alone.
    mine = as_user("avail").post(
        f"{URL}{first.json()['id']}/decisions/",
        {"kind": "approve", "role": "availability", "plan_hash": first.json()["plan_hash"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert mine.status_code == 201


def test_a_replayed_decision_counts_once(shop, as_user):
    body = declared(as_user)
    payload = {"kind": "approve", "role": "availability", "plan_hash": body["plan_hash"]}
    client = as_user("avail")
    for _ in range(3):
        response = client.post(
            f"{URL}{body['id']}/decisions/",
            payload,
            format="json",
            HTTP_IDEMPOTENCY_KEY="approve-once",
        )
        assert response.status_code == 201
    assert len(response.json()["decisions"]) == 1


def test_tokens_expired_revoked_and_malformed_are_401(shop, api):
    token, plain = personal_token(user("avail"), name="t")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert api.get(URL).status_code == 200
    revoke_token(token=token, actor=None)
    response = api.get(URL)
    assert response.status_code == 401 and response.json()["error"]["message"] == "token revoked"
    token, plain = personal_token(
        user("avail"), name="t2", expires_at=timezone.now() + timedelta(seconds=1)
    )
    token.expires_at = timezone.now() - timedelta(seconds=1)
    token.save()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert api.get(URL).json()["error"]["message"] == "token expired"
    for header in ["Bearer nope", "Bearer fa_x_y", "Bearer ", f"Bearer {plain}x"]:
        api.credentials(HTTP_AUTHORIZATION=header)
        assert api.get(URL).status_code == 401
    api.credentials()
    response = api.get(URL)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_scoped_tokens(shop, elsewhere, as_user):
    body = declared(as_user)
    read_only = as_user("avail", actions=["read"])
    assert read_only.get(f"{URL}{body['id']}/").status_code == 200
    refused = read_only.post(
        f"{URL}{body['id']}/decisions/",
        {"kind": "approve", "role": "availability", "plan_hash": body["plan_hash"]},
        format="json",
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "token_scope"
    from failover.models import Service

    only_elsewhere = as_user("avail", services=[Service.objects.get(slug="elsewhere")])
    assert only_elsewhere.get(f"{URL}{body['id']}/").status_code == 404
    assert as_user("avail").get(f"{URL}{body['id']}/").status_code == 200


def test_token_use_is_recorded(shop, api):
    token, plain = personal_token(user("avail"), name="t")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    api.get(URL)
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_session_auth_enforces_csrf(shop, client):
    client.force_login(user("declarer"))
    assert client.get(URL).status_code == 200
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user("declarer"))
    response = strict.post(URL, DECLARE, content_type="application/json")
    assert response.status_code == 403
    assert not FailoverRequest.objects.exists()


def _queries_for_list(client, url) -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries), len(response.json()["results"])


def test_list_query_count_is_the_same_for_1_and_50_rows(db, as_user):
    from failover.services import declare_request
    from tests.factories import make_service

    chain = {
        a: ["d"]
        for a in (
            "declare",
            "approve_availability",
            "approve_identity",
            "veto",
            "execute",
            "rollback",
        )
    }
    counts = []
    for total in (1, 50):
        while FailoverRequest.objects.count() < total:
            service = make_service(f"s{FailoverRequest.objects.count()}", chain=chain)
            declare_request(actor=user("d"), service=service, target="failover", reason="r")
        client = as_user("d")
        for url in (URL + "?page_size=100", "/api/v1/services/?page_size=100"):
            queries, rows = _queries_for_list(client, url)
            counts.append((url, total, queries, rows))
    by_url = {}
    for url, total, queries, rows in counts:
        assert rows >= total
        by_url.setdefault(url, set()).add(queries)
    assert all(len(q) == 1 for q in by_url.values()), counts


def test_malformed_idempotency_keys_are_400(shop, as_user):
    client = as_user("declarer")
    for key in ["", "   ", "é-clé", "x" * 201]:
        response = client.post(URL, DECLARE, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert response.status_code == 400, key
    assert not FailoverRequest.objects.exists()


def test_text_the_database_cannot_store_is_400(shop, as_user):
    client = as_user("declarer")
    for raw in [
        '{"service": "shop", "target": "failover", "reason": "a\\u0000b"}',
        '{"service": "shop", "target": "failover", "reason": "\\ud800"}',
    ]:
        response = client.post(URL, raw, content_type="application/json")
        assert response.status_code == 400, raw
    assert client.get(URL + "?incident_ref=%00").status_code == 400
    assert client.get(URL + "?service=a%00b").json()["error"]["code"] == "invalid"
    assert not FailoverRequest.objects.exists()
