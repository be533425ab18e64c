"""Registry drift: a request says what changed in the registry since its plan, a `declare`
holder re-plans (approvals of the old plan stop counting), and nothing else clears it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.selectors import verdict_for
from approvals.services import record_decision
from audit.models import AuditEvent
from failover.drift import drift_by_request, registry_drift
from failover.errors import NotAuthorised, WrongState
from failover.models import FailoverRequest, GovernedRecord, RecordValue, Target
from failover.services import cancel_request, declare_request, replan_request
from tests.factories import make_service, user

pytestmark = pytest.mark.django_db


def declare(service, **kwargs):
    return declare_request(
        actor=user("declarer"), service=service, target="failover", reason="down", **kwargs
    )


def approve(request, who="avail", role="availability"):
    record_decision(
        actor=user(who),
        request_id=request.pk,
        kind="approve",
        role=role,
        plan_hash=request.plan_hash,
    )


def refreshed(request) -> FailoverRequest:
    return FailoverRequest.objects.select_related("service", "from_target", "to_target").get(
        pk=request.pk
    )


def test_a_fresh_plan_has_no_drift(service):
    request = declare(service)
    assert registry_drift(request) == []
    assert (
        request.plan["inputs"]["targets"]["to"]["oidc_issuer"] == "https://login.us.example.test/"
    )


def test_an_edited_record_value_is_drift(service):
    request = declare(service)
    value = RecordValue.objects.get(record__service=service, target__name="failover")
    value.values = ["203.0.113.99"]
    value.save()
    assert registry_drift(refreshed(request)) == [
        "shop.example.test. A: the value for target failover changed from 203.0.113.1 "
        "to 203.0.113.99"
    ]


def test_ttl_routing_and_records_added_or_removed_are_drift(service):
    request = declare(service)
    record = GovernedRecord.objects.get(service=service)
    GovernedRecord.objects.filter(pk=record.pk).update(ttl=300)
    targets = {t.name: t for t in service.targets.all()}
    extra = GovernedRecord.objects.create(
        service=service,
        provider_account=record.provider_account,
        zone=record.zone,
        name=f"api.{record.zone}",
        rtype="A",
    )
    RecordValue.objects.create(record=extra, target=targets["primary"], values=["198.51.100.2"])
    RecordValue.objects.create(record=extra, target=targets["failover"], values=["203.0.113.2"])
    assert registry_drift(refreshed(request)) == [
        "api.example.test. A: now a governed record in scope",
        "shop.example.test. A: TTL changed from 60 to 300",
    ]
    record.delete()
    drift = registry_drift(refreshed(request))
    assert "shop.example.test. A: no longer a governed record in scope" in drift


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("oidc_issuer", "https://evil.example.test/", "OIDC issuer"),
        ("certificate_trust", "Other CA", "certificate trust"),
        ("data_residency_region", "apac", "data residency region"),
        ("address", "192.0.2.200", "address"),
        ("certificate_hostnames", ["shop.example.test"], "expected certificate hostnames"),
    ],
)
def test_target_attributes_the_rules_read_are_drift(service, field, value, words):
    request = declare(service)
    Target.objects.filter(service=service, name="failover").update(**{field: value})
    (difference,) = registry_drift(refreshed(request))
    assert difference.startswith(f"target failover: {words} changed from ")


def test_a_registry_that_no_longer_gives_a_plan_says_why(service):
    request = declare(service)
    RecordValue.objects.filter(record__service=service, target__name="failover").delete()
    drift = registry_drift(refreshed(request))
    assert drift[0] == (
        "the registry no longer gives a plan: governed record shop.example.test. A has no "
        "value for target failover"
    )


def test_ended_requests_show_no_drift(service):
    request = declare(service)
    cancel_request(actor=user("declarer"), request_id=request.pk)
    GovernedRecord.objects.filter(service=service).update(ttl=5)
    assert registry_drift(refreshed(request)) == []


def test_a_version_1_plan_is_compared_by_its_changes(service):
    request = declare(service)
    plan = {k: v for k, v in request.plan.items() if k != "inputs"}
    FailoverRequest.objects.filter(pk=request.pk).update(plan={**plan, "version": 1})
    assert registry_drift(refreshed(request)) == []
    RecordValue.objects.filter(record__service=service, target__name="failover").update(
        values=["203.0.113.7"]
    )
    assert registry_drift(refreshed(request)) == [
        "shop.example.test. A: the value for target failover changed from 203.0.113.1 "
        "to 203.0.113.7"
    ]


def test_drift_of_a_list_costs_the_same_queries_for_one_or_many(db):
    requests = []
    for slug in ("one", "two", "three"):
        service = make_service(slug)
        requests.append(refreshed(declare(service)))
        GovernedRecord.objects.filter(service=service).update(ttl=120)
    counts = []
    for batch in (requests[:1], requests):
        with CaptureQueriesContext(connection) as queries:
            drifts = drift_by_request(batch)
        counts.append(len(queries))
        for r in batch:
            assert drifts[r.pk] == [f"{r.service.slug}.example.test. A: TTL changed from 60 to 120"]
    assert counts[0] == counts[1]


def test_replan_clears_drift_voids_approvals_and_is_audited(service):
    request = declare(service)
    approve(request)
    approve(request, "identity", "identity")
    record_decision(
        actor=user("ir"),
        request_id=request.pk,
        kind="sign_off",
        role="incident_response",
        plan_hash=request.plan_hash,
    )
    assert refreshed(request).state == "approved"
    Target.objects.filter(service=service, name="failover").update(certificate_trust="Other CA")
    RecordValue.objects.filter(record__service=service, target__name="failover").update(
        values=["203.0.113.50"]
    )
    drift = registry_drift(refreshed(request))
    assert len(drift) == 2
    replanned = replan_request(
        actor=user("declarer"), request_id=request.pk, reason="registry edited", channel="api"
    )
    assert replanned.plan_hash != request.plan_hash
    assert replanned.plan["changes"][0]["new"] == ["203.0.113.50"]
    assert registry_drift(refreshed(request)) == []
    after = refreshed(request)
    assert after.state == "pending"
    verdict = verdict_for(after)
    assert {"availability", "identity", "incident_response"} <= {m.role for m in verdict.missing}
    event = AuditEvent.objects.get(action="request.replanned")
    assert event.actor == "declarer"
    assert event.data["registry_changes"] == drift
    assert len(event.data["voided_decisions"]) == 3
    assert (event.data["reason"], event.data["channel"]) == ("registry edited", "api")
    assert AuditEvent.objects.filter(
        action="request.state_changed", data__to="pending", object_id=str(request.pk)
    ).exists()


@pytest.mark.parametrize("who", ["avail", "executor", "root"])
def test_only_a_declare_holder_replans(service, people, who):
    if who == "root":
        user("root", is_superuser=True, is_staff=True)
    request = declare(service)
    RecordValue.objects.filter(record__service=service, target__name="failover").update(
        values=["203.0.113.50"]
    )
    with pytest.raises(NotAuthorised):
        replan_request(actor=user(who), request_id=request.pk)
    assert refreshed(request).plan_hash == request.plan_hash
    assert not AuditEvent.objects.filter(action="request.replanned").exists()


def test_a_closed_request_is_not_replanned(service):
    request = declare(service)
    cancel_request(actor=user("declarer"), request_id=request.pk)
    with pytest.raises(WrongState):
        replan_request(actor=user("declarer"), request_id=request.pk)


# --- the API door ---------------------------------------------------------------------------


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    def as_user(username, **scope):
        from tests.tokens import personal_token

        client = APIClient()
        _, plain = personal_token(user(username), name="drift", **scope)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
        return client

    return as_user


def edit_failover_value(service, value="203.0.113.50"):
    RecordValue.objects.filter(record__service=service, target__name="failover").update(
        values=[value]
    )


def test_api_reads_show_the_drift(service, api):
    request = declare(service)
    client = api("declarer")
    url = f"/api/v1/failover-requests/{request.pk}/"
    assert client.get(url).json()["drift"] == []
    edit_failover_value(service)
    expected = [
        "shop.example.test. A: the value for target failover changed from 203.0.113.1 "
        "to 203.0.113.50"
    ]
    assert client.get(url).json()["drift"] == expected
    (row,) = client.get("/api/v1/failover-requests/").json()["results"]
    assert row["drift"] == expected


def test_api_replan_by_a_declare_holder_gives_the_new_plan(service, api):
    request = declare(service)
    approve(request)
    edit_failover_value(service)
    response = api("declarer").post(
        f"/api/v1/failover-requests/{request.pk}/replan/",
        {"reason": "registry edited"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["plan_hash"] != request.plan_hash
    assert body["plan"]["changes"][0]["new"] == ["203.0.113.50"]
    assert body["drift"] == []
    assert "availability" in [m["role"] for m in body["missing"]]
    assert not [d for d in body["decisions"] if d["counts"]]
    assert AuditEvent.objects.get(action="request.replanned").data["channel"] == "api"


@pytest.mark.parametrize(
    "who, scope, status",
    [
        ("avail", {}, 403),  # holds no declare
        ("declarer", {"actions": ["read"]}, 403),  # a read token cannot re-plan
        ("other", {}, 404),  # another service's people do not see it
    ],
)
def test_api_replan_refusals_change_nothing(service, people, api, who, scope, status):
    request = declare(service)
    edit_failover_value(service)
    response = api(who, **scope).post(
        f"/api/v1/failover-requests/{request.pk}/replan/", {}, format="json"
    )
    assert response.status_code == status, response.content
    assert set(response.json()["error"]) >= {"code", "message"}
    assert refreshed(request).plan_hash == request.plan_hash
    assert not AuditEvent.objects.filter(action="request.replanned").exists()


def test_api_replan_of_a_cancelled_request_is_a_conflict(service, api):
    request = declare(service)
    cancel_request(actor=user("declarer"), request_id=request.pk)
    response = api("declarer").post(f"/api/v1/failover-requests/{request.pk}/replan/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "wrong_state"


def test_api_replan_refuses_unknown_fields(service, api):
    request = declare(service)
    response = api("declarer").post(
        f"/api/v1/failover-requests/{request.pk}/replan/", {"plan": {}}, format="json"
    )
    assert response.status_code == 400
    assert "plan" in str(response.json()["error"])


# --- execution refuses a stale plan until it is re-planned ----------------------------------


def approve_all(request):
    approve(request)
    approve(request, "identity", "identity")
    record_decision(
        actor=user("ir"),
        request_id=request.pk,
        kind="sign_off",
        role="incident_response",
        plan_hash=request.plan_hash,
    )


def test_an_approved_plan_edited_in_the_registry_does_not_go_out_until_replanned(service, zone_dir):
    import dns.zone

    from approvals.execution import execute_request
    from failover.errors import Blocked
    from tests.factories import run_worker

    request = declare(service)
    approve_all(request)
    assert refreshed(request).state == "approved"
    edit_failover_value(service)
    with pytest.raises(Blocked) as refused:
        execute_request(actor=user("executor"), request_id=request.pk)
    assert "the registry changed since the plan" in refused.value.message
    assert "203.0.113.50" in refused.value.message
    assert refreshed(request).state == "approved"
    assert not request.changes.exists()

    request = replan_request(actor=user("declarer"), request_id=request.pk)
    assert refreshed(request).state == "pending"
    approve_all(request)
    execute_request(actor=user("executor"), request_id=request.pk)
    run_worker(request)
    assert refreshed(request).state == "applied"
    zone = dns.zone.from_file(
        str(zone_dir / "example.test.zone"), origin="example.test.", relativize=False
    )
    values = [r.to_text() for r in zone.get_rdataset("shop.example.test.", "A")]
    assert values == ["203.0.113.50"]


# --- the request page -------------------------------------------------------------------------


def page_of(client, who, request):
    client.force_login(user(who))
    return client.get(f"/requests/{request.pk}/")


def test_the_request_page_shows_drift_and_offers_a_replan_to_declare_holders(service, client):
    request = declare(service)
    html = page_of(client, "declarer", request).content.decode()
    assert 'id="registry-drift"' not in html
    assert 'name="kind" value="replan"' not in html  # nothing to re-plan for
    edit_failover_value(service)
    html = page_of(client, "declarer", request).content.decode()
    assert 'id="registry-drift"' in html
    assert "the value for target failover changed from 203.0.113.1 to 203.0.113.50" in html
    assert 'name="kind" value="replan"' in html
    html = page_of(client, "avail", request).content.decode()
    assert 'id="registry-drift"' in html
    assert 'name="kind" value="replan"' not in html


def test_replanning_from_the_request_page(service, client):
    request = declare(service)
    approve(request)
    edit_failover_value(service)
    declarer = user("declarer")
    declarer.set_password("replan-pw")
    declarer.save()
    client.force_login(declarer)
    url = f"/requests/{request.pk}/"
    form = {"kind": "replan", "comment": "value moved"}
    assert client.post(url, form).status_code == 400  # a new plan clears a block: step-up
    response = client.post(url, {**form, "password": "replan-pw"}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "no longer count" in html
    assert 'id="registry-drift"' not in html
    after = refreshed(request)
    assert after.plan["changes"][0]["new"] == ["203.0.113.50"]
    event = AuditEvent.objects.get(action="request.replanned")
    assert (event.data["channel"], event.data["reason"]) == ("web", "value moved")


def test_a_forged_replan_from_someone_without_declare_changes_nothing(service, client):
    request = declare(service)
    edit_failover_value(service)
    avail = user("avail")
    avail.set_password("replan-pw")
    avail.save()
    client.force_login(avail)
    response = client.post(f"/requests/{request.pk}/", {"kind": "replan", "password": "replan-pw"})
    assert response.status_code == 403
    assert refreshed(request).plan_hash == request.plan_hash
    assert not AuditEvent.objects.filter(action="request.replanned").exists()


# --- the command line -----------------------------------------------------------------------


def run_cli(*args) -> str:
    from io import StringIO

    from django.core.management import call_command
    from django.test import override_settings

    out = StringIO()
    with override_settings(DEBUG=True):  # --as is the demo's (or operator mode's)
        call_command("request", *args, stdout=out)
    return out.getvalue()


def test_replan_from_the_command_line(service):
    from django.core.management.base import CommandError

    request = declare(service)
    assert "nothing changed" in run_cli("replan", str(request.pk), "--as", "declarer")
    edit_failover_value(service)
    with pytest.raises(CommandError, match="'declare' authority"):
        run_cli("replan", str(request.pk), "--as", "avail")
    out = run_cli("replan", str(request.pk), "--as", "declarer", "--reason", "moved")
    assert "registry changed: shop.example.test. A: the value for target failover" in out
    assert "re-planned" in out and "203.0.113.50" in out
    assert AuditEvent.objects.get(action="request.replanned").data["channel"] == "cli"
