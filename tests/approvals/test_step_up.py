"""Invariant 13: every act that moves or unblocks traffic asks for step-up, through every door;
a lift never executes; an act that will execute says so, with the records, before it is
confirmed."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.models import Decision
from approvals.readiness.models import ReadinessCheck
from approvals.services import record_decision
from audit.models import AuditEvent
from dnsproviders.models import DnsChange
from failover.services import declare_request
from tests.factories import user

pytestmark = pytest.mark.django_db
PASSWORD = "step-up-pw"


@pytest.fixture
def request_(service, people):
    for person in people.values():
        person.set_password(PASSWORD)
        person.save()
    service.policy.execute_on_approval = True
    service.policy.save()
    return declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu-west-1 down"
    )


def decide(request, persona, kind="approve", role="availability", comment="checked"):
    return record_decision(
        actor=user(persona),
        request_id=request.pk,
        kind=kind,
        role=role,
        plan_hash=request.plan_hash,
        comment=comment,
    )


def failing_check(request):
    return ReadinessCheck.objects.create(
        request=request,
        target=request.to_target,
        kind="tls",
        identity_critical=True,
        ok=False,
        reason="certificate has expired",
        details={},
        checked_at=timezone.now(),
    )


def snapshot(request):
    request.refresh_from_db()
    return (
        request.state,
        Decision.objects.filter(request=request).count(),
        DnsChange.objects.count(),
        AuditEvent.objects.count(),
        ReadinessCheck.objects.filter(request=request, lifted_at__isnull=False).count(),
    )


def as_person(client, persona):
    client.force_login(user(persona))
    return client


# Each act on the request page that moves or unblocks traffic, as the last act that would
# have applied the change on `checkout` (auto-execution on): set-up, who acts, the form.
def _sign_off(request):
    decide(request, "avail")
    decide(request, "identity", role="identity")
    return "ir", {"kind": "sign_off", "role": "incident_response", "plan_hash": request.plan_hash}


def _lift_own_veto(request):
    veto = decide(request, "vetoer", "veto", "", "wait")
    decide(request, "avail")
    decide(request, "identity", role="identity")
    decide(request, "ir", "sign_off", "incident_response")
    return "vetoer", {"kind": "lift_veto", "veto_id": veto.pk}


def _lift_system_veto(request):
    check = failing_check(request)
    decide(request, "avail")
    decide(request, "identity", role="identity")
    decide(request, "ir", "sign_off", "incident_response")
    return "vetoer", {"kind": "lift_system_veto", "check_id": check.pk, "comment": "known"}


def _approve(request):
    decide(request, "identity", role="identity")
    decide(request, "ir", "sign_off", "incident_response")
    return "avail", {"kind": "approve", "role": "availability", "plan_hash": request.plan_hash}


def _veto(request):
    return "vetoer", {"kind": "veto", "comment": "the US IdP rejects EU sessions"}


ACTS = {
    "sign_off": _sign_off,
    "lift_veto": _lift_own_veto,
    "lift_system_veto": _lift_system_veto,
    "approve": _approve,
    "veto": _veto,
}


@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("password", ["", "wrong"])
def test_the_request_page_refuses_without_the_password_and_changes_nothing(
    client, request_, act, password, settings
):
    settings.READINESS_SYSTEM_VETO = act == "lift_system_veto"
    persona, form = ACTS[act](request_)
    before = snapshot(request_)
    page = as_person(client, persona).post(
        f"/requests/{request_.pk}/", {**form, "password": password}
    )
    assert page.status_code == 400
    assert "Nothing was done" in page.content.decode()
    after = snapshot(request_)
    # A wrong password is counted (and its lockout audited by the step-up), nothing else.
    assert after[:3] == before[:3] and after[4] == before[4]


@pytest.mark.parametrize("act", ["lift_veto", "lift_system_veto"])
def test_a_lift_with_the_password_unblocks_but_never_executes(client, request_, act, settings):
    settings.READINESS_SYSTEM_VETO = act == "lift_system_veto"
    persona, form = ACTS[act](request_)
    page = as_person(client, persona).post(
        f"/requests/{request_.pk}/", {**form, "password": PASSWORD}, follow=True
    )
    assert page.status_code == 200
    assert "Nothing was executed" in page.content.decode()
    request_.refresh_from_db()
    assert request_.state == "approved"
    assert not DnsChange.objects.filter(request=request_).exists()
    # Executing is its own confirmed act, offered to the executor now that nothing blocks.
    executor = as_person(client, "executor").get(f"/requests/{request_.pk}/").content.decode()
    assert "Execute failover" in executor


def test_the_sign_off_with_the_password_executes_and_said_so_beforehand(client, request_):
    persona, form = _sign_off(request_)
    page = as_person(client, persona).get(f"/requests/{request_.pk}/").content.decode()
    form_html = page[page.index("Sign off for incident response and execute now") :]
    form_html = form_html[: form_html.index("</details>")]
    assert "Confirming this executes the failover now" in form_html
    assert "Confirm sign-off and execute now" in form_html
    assert "203.0.113.1" in form_html  # the record's new value, shown before confirming
    client.post(f"/requests/{request_.pk}/", {**form, "password": PASSWORD})
    request_.refresh_from_db()
    assert request_.state == "executing"


def test_the_first_approval_says_it_executes_nothing(client, request_):
    page = as_person(client, "avail").get(f"/requests/{request_.pk}/").content.decode()
    assert "Approve as availability" in page
    assert "and execute now" not in page and "Confirming this executes" not in page


def test_a_vetoed_request_reads_vetoed_even_when_every_approval_is_in(client, request_):
    decide(request_, "vetoer", "veto", "", "wait")
    decide(request_, "avail")
    decide(request_, "identity", role="identity")
    decide(request_, "ir", "sign_off", "incident_response")
    request_.refresh_from_db()
    assert request_.state == "approved" and not DnsChange.objects.exists()
    status = (
        as_person(client, "avail").get(f"/requests/{request_.pk}/live/status/").content.decode()
    )
    assert "Vetoed: nothing executes" in status
    assert "it can be executed" not in status


# --- the API: a browser session steps up like the page; a token is its own credential -------


def api_as(persona, token=False):
    api = APIClient()
    if token:
        from tests.tokens import personal_token

        _, plain = personal_token(user(persona), name="t")
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    else:
        api.force_login(user(persona))
    return api


@pytest.mark.parametrize("act", ["sign_off", "lift_veto", "approve", "veto"])
def test_an_api_session_caller_steps_up_like_the_page(request_, act):
    persona, form = ACTS[act](request_)
    body = {k: v for k, v in form.items() if k != "kind"} | {"kind": form["kind"]}
    body.setdefault("comment", "api")
    before = snapshot(request_)
    url = f"/api/v1/failover-requests/{request_.pk}/decisions/"
    refused = api_as(persona).post(url, body, format="json")
    assert refused.status_code == 400, refused.content
    assert "step_up" in refused.json()["error"]["fields"]
    assert snapshot(request_)[:3] == before[:3]
    done = api_as(persona).post(url, {**body, "password": PASSWORD}, format="json")
    assert done.status_code == 201, done.content


def test_an_api_session_caller_steps_up_to_lift_a_system_veto(request_, settings):
    settings.READINESS_SYSTEM_VETO = True
    persona, form = _lift_system_veto(request_)
    url = f"/api/v1/failover-requests/{request_.pk}/readiness/lift/"
    body = {"check_id": form["check_id"], "reason": "known"}
    assert api_as(persona).post(url, body, format="json").status_code == 400
    done = api_as(persona).post(url, {**body, "password": PASSWORD}, format="json")
    assert done.status_code == 200, done.content
    assert done.json()["state"] == "approved"  # unblocked, not executed
    assert not DnsChange.objects.exists()


def test_the_api_previews_whether_a_decision_executes(request_):
    decide(request_, "avail")
    url = f"/api/v1/failover-requests/{request_.pk}/decisions/?preview=true"
    body = {"kind": "approve", "role": "identity", "plan_hash": request_.plan_hash}
    first = api_as("identity", token=True).post(url, body, format="json").json()
    assert first["executes_now"] is False and first["records"] == []
    decide(request_, "identity", role="identity")
    body = {"kind": "sign_off", "role": "incident_response", "plan_hash": request_.plan_hash}
    last = api_as("ir", token=True).post(url, body, format="json").json()
    assert last["executes_now"] is True
    assert last["records"][0]["after"] == ["203.0.113.1"]
    assert not Decision.objects.filter(actor__username="ir").exists()  # a preview decides nothing


def test_the_admin_offers_no_traffic_moving_action(client, db):
    from failover.admin import FailoverRequestAdmin

    assert not {"execute_selected", "rollback_selected"} & set(FailoverRequestAdmin.actions)
