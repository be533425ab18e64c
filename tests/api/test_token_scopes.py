"""Token scopes as the issue found them leaking: each case as it was reported, through the API
(the authorisation matrix covers every route x every scope; these keep the reports)."""

import json

import pytest
from django.contrib.auth.models import Permission

from failover.models import FailoverRequest, Service
from failover.services import declare_request
from tests.factories import user

pytestmark = pytest.mark.django_db

NEW = {"slug": "payments", "name": "Payments", "governance_mode": "dual_approval"}


def _auditor():
    auditor = user("auditor")
    auditor.user_permissions.add(
        Permission.objects.get(content_type__app_label="audit", codename="view_auditevent")
    )
    return auditor


def test_a_read_token_of_an_admin_registers_nothing(shop, as_user):
    user("root", is_superuser=True, is_staff=True)
    refused = as_user("root", actions=["read"]).post("/api/v1/services/", NEW, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "token_scope"
    assert "configure" in refused.json()["error"]["message"]
    limited = as_user("root", actions=["configure"], services=[shop])
    assert limited.post("/api/v1/services/", NEW, format="json").status_code == 403
    assert not Service.objects.filter(slug="payments").exists()
    created = as_user("root", actions=["configure"]).post("/api/v1/services/", NEW, format="json")
    assert created.status_code == 201


def test_an_auditors_service_token_reads_only_that_services_reports_and_events(
    shop, elsewhere, as_user
):
    _auditor()
    theirs = declare_request(
        actor=user("other"), service=elsewhere, target="failover", reason="other team"
    )
    mine = declare_request(actor=user("declarer"), service=shop, target="failover", reason="x")
    client = as_user("auditor", services=[shop])
    assert client.get(f"/api/v1/failover-requests/{theirs.pk}/report/").status_code == 404
    assert client.get(f"/api/v1/failover-requests/{mine.pk}/report/").status_code == 200
    events = client.get("/api/v1/audit-events/?page_size=1000").json()["results"]
    requests = {e["object_id"] for e in events if e["object_type"] == "failover.failoverrequest"}
    assert requests == {str(mine.pk)}
    exported = client.get("/api/v1/audit-events/export/")
    *rows, trailer = (
        json.loads(x) for x in b"".join(exported.streaming_content).decode().splitlines()
    )
    assert trailer["trailer"]["count"] == len(rows)  # counts only what this token may see
    assert str(theirs.pk) not in {r["object_id"] for r in rows if "request" in r["object_type"]}
    assert {r["object_id"] for r in rows if r["object_type"] == "failover.service"} == {
        str(shop.pk)
    }
    verify = client.get("/api/v1/audit-events/verify/")
    assert verify.status_code == 403 and verify.json()["error"]["code"] == "token_scope"
    # The same auditor without a service limit reads both.
    assert (
        as_user("auditor").get(f"/api/v1/failover-requests/{theirs.pk}/report/").status_code == 200
    )


def test_running_readiness_needs_more_than_read(shop, as_user):
    request = declare_request(actor=user("declarer"), service=shop, target="failover", reason="x")
    url = f"/api/v1/failover-requests/{request.pk}/readiness/run/"
    refused = as_user("avail", actions=["read"]).post(url)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "token_scope"
    assert as_user("avail", actions=["decide"]).post(url).status_code == 202


def test_a_replayed_key_answers_only_its_own_token(shop, as_user):
    body = {"service": "shop", "target": "failover", "reason": "x"}
    first = as_user("declarer").post(
        "/api/v1/failover-requests/", body, format="json", HTTP_IDEMPOTENCY_KEY="same"
    )
    assert first.status_code == 201
    # A token of the same user limited to another service: no replay of the first answer.
    other = Service.objects.create(slug="other-svc", name="Other")
    second = as_user("declarer", services=[other]).post(
        "/api/v1/failover-requests/", body, format="json", HTTP_IDEMPOTENCY_KEY="same"
    )
    assert second.status_code == 404 and not second.has_header("Idempotent-Replayed")
    assert FailoverRequest.objects.count() == 1


def test_a_route_that_names_no_token_scope_refuses_every_token(shop):
    """A new route is closed to tokens until someone decides which action it needs."""
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory, force_authenticate
    from rest_framework.views import APIView

    from failover.api.base import ApiViewMixin
    from tests.tokens import personal_token

    class Unscoped(ApiViewMixin, APIView):
        def get(self, request):
            return Response({"ok": True})

    view = Unscoped.as_view()
    caller = user("declarer")
    token, _ = personal_token(caller, name="all actions")
    request = APIRequestFactory().get("/new/")
    force_authenticate(request, user=caller, token=token)
    refused = view(request)
    assert refused.status_code == 403 and refused.data["error"]["code"] == "token_scope"
    session = APIRequestFactory().get("/new/")
    force_authenticate(session, user=caller)
    assert view(session).status_code == 200


def test_a_registration_is_not_replayed_once_the_permission_is_gone(shop, as_user):
    registrar = user("registrar")
    permission = Permission.objects.get(content_type__app_label="failover", codename="add_service")
    registrar.user_permissions.add(permission)
    client = as_user("registrar", actions=["configure"])
    first = client.post("/api/v1/services/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="reg")
    again = client.post("/api/v1/services/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="reg")
    assert first.status_code == again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    registrar.user_permissions.remove(permission)
    gone = client.post("/api/v1/services/", NEW, format="json", HTTP_IDEMPOTENCY_KEY="reg")
    assert gone.status_code == 404 and not gone.has_header("Idempotent-Replayed")


def test_the_api_documents_the_token_action_of_every_operation():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    notes = {
        (method.upper(), path): operation.get("description", "")
        for path, operations in paths.items()
        if not path.startswith("/api/v1/integrations/")
        for method, operation in operations.items()
    }
    # The routes about the calling token itself are open to any token, and say so.
    documented = ("A token needs the `", "Any token may use this route")
    assert notes and all(any(d in text for d in documented) for text in notes.values()), notes
    assert "`configure`" in notes[("POST", "/api/v1/services/")]
    assert "`decide`" in notes[("POST", "/api/v1/failover-requests/{id}/readiness/run/")]
