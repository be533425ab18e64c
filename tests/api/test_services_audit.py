import pytest
from django.contrib.auth.models import Permission

from audit.jobs import run_verification
from audit.models import AuditEvent
from failover.models import Service
from tests.factories import user

pytestmark = pytest.mark.django_db


def test_services_are_listed_only_where_you_hold_authority(shop, elsewhere, as_user):
    body = as_user("avail").get("/api/v1/services/").json()
    assert [s["slug"] for s in body["results"]] == ["shop"]
    service = body["results"][0]
    assert service["chain_complete"] is True and service["your_authorities"] == [
        "approve_availability"
    ]
    assert {t["name"]: t["active"] for t in service["targets"]} == {
        "primary": True,
        "failover": False,
    }
    assert service["targets"][0]["identity_profile"]["data_residency_region"]
    assert service["records"][0]["values"] == {
        "primary": ["198.51.100.1"],
        "failover": ["203.0.113.1"],
    }
    assert as_user("outsider").get("/api/v1/services/").json()["results"] == []
    assert as_user("outsider").get("/api/v1/services/shop/").status_code == 404
    assert as_user("other").get("/api/v1/services/shop/authority-chain/").status_code == 404


def test_authority_chain(shop, as_user):
    body = as_user("avail").get("/api/v1/services/shop/authority-chain/").json()
    assert body["complete"] is True
    veto = next(a for a in body["authorities"] if a["authority"] == "veto")
    assert veto["groups"] == [{"name": "shop veto", "members": ["vetoer", "vetoer2"]}]


def test_registering_a_service_needs_the_model_permission(shop, as_user):
    payload = {"slug": "payments", "name": "Payments", "governance_mode": "dual_approval"}
    assert as_user("avail").post("/api/v1/services/", payload, format="json").status_code == 403
    admin = user("registrar")
    admin.user_permissions.add(Permission.objects.get(codename="add_service"))
    client = as_user("registrar")
    created = client.post("/api/v1/services/", payload, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["chain_missing"] == [
        "declare",
        "approve_availability",
        "approve_identity",
        "veto",
        "execute",
        "rollback",
    ]
    assert client.post("/api/v1/services/", payload, format="json").status_code == 409
    bad = client.post("/api/v1/services/", {"slug": "no spaces!", "name": ""}, format="json")
    assert bad.status_code == 400 and {"slug", "name"} <= set(bad.json()["error"]["fields"])
    assert Service.objects.filter(slug="payments").exists()


def test_audit_needs_its_permission_and_verifies(shop, as_user, settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path)  # the verdict reads checkpoints: none here
    assert as_user("avail").get("/api/v1/audit-events/").status_code == 403
    auditor = user("auditor")
    auditor.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client = as_user("auditor")
    events = client.get("/api/v1/audit-events/?action=authority.granted").json()["results"]
    assert events and all(e["action"] == "authority.granted" for e in events)
    # Verifying runs as a job (tests/api/test_audit_verification.py); the GET answers the
    # latest finished one.
    job = client.post("/api/v1/audit-events/verify/").json()
    run_verification(job["id"])
    latest = client.get("/api/v1/audit-events/verify/").json()
    events = AuditEvent.objects.filter(action="audit.verification_finished").get().seq - 1
    assert {k: latest[k] for k in ("ok", "verified", "first_broken_seq", "reason")} == {
        "ok": True,
        "verified": events,
        "first_broken_seq": None,
        "reason": "",
    }
    scoped = as_user("auditor", actions=["read"])
    assert scoped.get("/api/v1/audit-events/").status_code == 403


def test_schema_and_docs_are_served_without_a_cdn(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in (
        "/api/v1/services/",
        "/api/v1/failover-requests/{id}/decisions/",
        "/api/v1/failover-requests/{id}/execute/",
        "/api/v1/audit-events/verify/",
        "/api/v1/services/{slug}/authority-chain/",
    ):
        assert path in text, path
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower()


def test_the_schema_generates_without_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_throttling_names_the_limit(shop, as_user, settings):
    from django.core.cache import cache

    cache.clear()
    from failover.api.throttling import UserThrottle

    UserThrottle.THROTTLE_RATES = {**UserThrottle.THROTTLE_RATES, "user": "2/min"}
    try:
        client = as_user("avail")
        statuses = [client.get("/api/v1/services/").status_code for _ in range(3)]
        response = client.get("/api/v1/services/")
    finally:
        UserThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        cache.clear()
    assert statuses[:2] == [200, 200] and response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "throttled" and error["limit"] == "user (2/min)"
    assert "rate limit 'user (2/min)' exceeded" in error["message"]
    assert int(response["Retry-After"]) >= 1
