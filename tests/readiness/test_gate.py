"""The readiness checks as a gate: a failing identity-critical check stops execution like a
person's veto until a holder of `veto` lifts it with a reason, through every door."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.execution import execute_request
from approvals.models import Policy
from approvals.readiness import selectors as readiness_selectors
from approvals.readiness import services as svc
from approvals.readiness.models import ReadinessCheck, SecretAttestation
from approvals.readiness.tasks import sweep
from approvals.selectors import verdict_for
from failover.errors import Blocked
from failover.models import FailoverRequest
from failover.services import declare_request
from tests.readiness.flow import approve_all, codes, declare_at
from tests.readiness.servers import SECRETS, serve
from tests.tokens import personal_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def gate_on(readiness_settings):
    readiness_settings.READINESS_SYSTEM_VETO = True


@pytest.fixture
def target_server(ca, tmp_path, request):
    """A local HTTPS target; `@pytest.mark.parametrize("target_server", ["expired"], indirect=True)`
    serves an expired certificate."""
    with serve(ca, tmp_path, expired=getattr(request, "param", "") == "expired") as server:
        yield server


@pytest.fixture
def declared(service, people, target_server):
    return declare_at(service, people, target_server)


def test_declaring_queues_the_checks_when_the_declaration_commits(
    service, people, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr("failover.dispatch.send_now", lambda task, *a, **kw: sent.append((task, a)))
    with django_capture_on_commit_callbacks(execute=True):
        request = declare_request(
            actor=people["declarer"], service=service, target="failover", reason="eu down"
        )
        assert sent == []
    assert (svc.TASK, (request.pk,)) in sent


def test_nothing_executes_before_the_checks_report(declared, people):
    approve_all(declared, people)
    assert codes(declared) == ["readiness_pending"]
    with pytest.raises(Blocked, match="have not reported yet"):
        execute_request(actor=people["executor"], request_id=declared.pk)
    svc.run_readiness_checks(request_id=declared.pk)
    assert codes(declared) == []
    execute_request(actor=people["executor"], request_id=declared.pk)
    assert FailoverRequest.objects.get(pk=declared.pk).state == "executing"


def test_checks_that_pass_after_the_approvals_leave_execution_to_a_person(declared, people):
    """Even with execute-on-approval: nobody confirmed an execution when the checks reported."""
    Policy.objects.filter(service=declared.service).update(execute_on_approval=True)
    approve_all(declared, people)
    assert FailoverRequest.objects.get(pk=declared.pk).state == "approved"  # waits for checks
    svc.run_readiness_checks(request_id=declared.pk)
    assert FailoverRequest.objects.get(pk=declared.pk).state == "approved"
    assert codes(declared) == []
    execute_request(actor=people["executor"], request_id=declared.pk)
    assert FailoverRequest.objects.get(pk=declared.pk).state == "executing"


@pytest.mark.parametrize("target_server", ["expired"], indirect=True)
def test_expired_certificate_blocks_until_a_veto_holder_lifts_it(declared, people):
    approve_all(declared, people)
    svc.run_readiness_checks(request_id=declared.pk)
    verdict = verdict_for(FailoverRequest.objects.get(pk=declared.pk))
    vetoes = [b for b in verdict.blocked_by if b.code == "system_veto"]
    # The identity provider is served with the same expired certificate: both fail.
    assert len(vetoes) == 2 and all(b.check_id for b in vetoes)
    assert not verdict.may_execute
    with pytest.raises(Blocked, match="certificate has expired"):
        execute_request(actor=people["executor"], request_id=declared.pk)

    for block in vetoes:
        svc.lift_system_veto(actor=people["vetoer"], check_id=block.check_id, reason="renewed")
    assert codes(declared) == []
    execute_request(actor=people["executor"], request_id=declared.pk)
    assert FailoverRequest.objects.get(pk=declared.pk).state == "executing"


def test_the_gate_can_be_switched_off(declared, people, settings):
    settings.READINESS_SYSTEM_VETO = False
    approve_all(declared, people)
    assert codes(declared) == []


def test_the_sweeper_resends_checks_that_never_ran(
    declared, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr("failover.dispatch.send_now", lambda task, *a, **kw: sent.append((task, a)))
    assert sweep() == 0  # declared just now: its first run may still be on its way
    FailoverRequest.objects.filter(pk=declared.pk).update(
        created_at=timezone.now() - timedelta(minutes=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep() == 1
    assert sent == [(svc.TASK, (declared.pk,))]
    svc.run_readiness_checks(request_id=declared.pk)
    assert sweep() == 0


# --- the browser -------------------------------------------------------------------------


def signed_in(client, person):
    client.force_login(person)
    return client


def summaries(page: str) -> list[str]:
    return re.findall(r"<summary>([^<]+)</summary>", page)


@pytest.mark.parametrize("target_server", ["expired"], indirect=True)
def test_request_page_shows_the_evidence_and_lifts_with_a_reason(client, declared, people):
    svc.run_readiness_checks(request_id=declared.pk)
    url = f"/requests/{declared.pk}/"
    page = signed_in(client, people["identity"]).get(url).content.decode()
    assert "system veto" in page and "certificate has expired" in page
    # The failing evidence sits inside the identity lead's approve form.
    approve_form = page[page.index("Approve as identity") :]
    approve_form = approve_form[: approve_form.index("</details>")]
    assert "Before you approve" in approve_form and "certificate has expired" in approve_form
    assert not any(s.startswith("Lift the system veto") for s in summaries(page))

    people["vetoer"].set_password("step-up-pw")  # lifting unblocks traffic: step-up
    people["vetoer"].save()
    page = signed_in(client, people["vetoer"]).get(url).content.decode()
    lifts = [s for s in summaries(page) if s.startswith("Lift the system veto")]
    assert lifts == [
        "Lift the system veto of the TLS certificates check",
        "Lift the system veto of the Identity provider check",
    ]
    tls = readiness_selectors.latest_checks(declared.pk)["tls"]
    post = {"kind": "lift_system_veto", "check_id": tls.pk, "comment": "", "password": "step-up-pw"}
    response = client.post(url, post)
    assert response.status_code == 400 and "give a reason" in response.content.decode()
    assert ReadinessCheck.objects.get(pk=tls.pk).lifted_at is None
    response = client.post(url, {**post, "comment": "renewal deployed, verified by hand"})
    assert response.status_code == 302, response.content.decode()[-3000:]
    lifted = ReadinessCheck.objects.get(pk=tls.pk)
    assert lifted.lifted_by == people["vetoer"]
    page = client.get(url).content.decode()
    assert "Lifted by vetoer" in page and "renewal deployed, verified by hand" in page

    # A forged lift by someone without `veto` changes nothing.
    idp = readiness_selectors.latest_checks(declared.pk)["identity_provider"]
    people["identity"].set_password("identity-pw")
    people["identity"].save()
    signed_in(client, people["identity"])
    forged = {"kind": "lift_system_veto", "check_id": idp.pk, "comment": "x"}
    response = client.post(url, {**forged, "password": "identity-pw"})
    assert response.status_code == 403
    assert ReadinessCheck.objects.get(pk=idp.pk).lifted_at is None


def test_identity_lead_attests_a_rotation_from_the_request_page(client, service, people):
    request = declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu down"
    )
    url = f"/requests/{request.pk}/"
    for person in ("identity", "avail"):
        people[person].set_password("attest-pw")
        people[person].save()
    signed_in(client, people["identity"])
    bad = client.post(url, {"kind": "attest", "secret_name": "tls_private_key", "rotated_at": "x"})
    assert bad.status_code == 400
    assert not SecretAttestation.objects.exists()
    form = {"kind": "attest", "secret_name": "tls_private_key", "rotated_at": "2026-11-01T09:30"}
    # An attested rotation can clear the secrets check's system veto: step-up, like a lift.
    assert client.post(url, form).status_code == 400
    assert not SecretAttestation.objects.exists()
    ok = client.post(url, {**form, "password": "attest-pw"})
    assert ok.status_code == 302
    attestation = SecretAttestation.objects.get()
    assert attestation.attested_by == people["identity"]
    assert attestation.rotated_at.isoformat().startswith("2026-11-01T09:30")
    signed_in(client, people["avail"])
    forged = client.post(
        url,
        {
            "kind": "attest",
            "secret_name": "oidc_client_secret",
            "rotated_at": "2026-11-01T09:30",
            "password": "attest-pw",
        },
    )
    assert forged.status_code == 403 and SecretAttestation.objects.count() == 1


# --- the API ---------------------------------------------------------------------------------


def api_as(person, **scope) -> APIClient:
    api = APIClient()
    _, plain = personal_token(person, name="test", **scope)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return api


@pytest.mark.parametrize("target_server", ["expired"], indirect=True)
def test_api_shows_evidence_and_lifts_the_system_veto(declared, people):
    svc.run_readiness_checks(request_id=declared.pk)
    base = f"/api/v1/failover-requests/{declared.pk}/"
    body = api_as(people["executor"]).get(base).json()
    blocks = [b for b in body["blocked_by"] if b["code"] == "system_veto"]
    assert {b["check_id"] for b in blocks} == {
        c["id"] for c in body["readiness"] if c["system_veto"]
    }
    evidence = api_as(people["executor"]).get(base + "readiness/").json()
    tls = next(c for c in evidence["latest"] if c["kind"] == "tls")
    assert "expired" in tls["reason"] and tls["details"]["hostnames"][0]["sha256"]
    assert evidence["required_secrets"] == SECRETS

    lift = base + "readiness/lift/"
    assert (
        api_as(people["identity"])
        .post(lift, {"check_id": tls["id"], "reason": "ok"}, format="json")
        .status_code
        == 403
    )
    response = api_as(people["vetoer"]).post(lift, {"check_id": tls["id"]}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["error"]["fields"]
    response = api_as(people["vetoer"]).post(
        lift, {"check_id": 10**9, "reason": "x"}, format="json"
    )
    assert response.status_code == 404
    response = api_as(people["vetoer"]).post(
        lift, {"check_id": tls["id"], "reason": "renewed"}, format="json"
    )
    assert response.status_code == 200
    assert all(b["check_id"] != tls["id"] for b in response.json()["blocked_by"])
    again = api_as(people["vetoer2"]).post(
        lift, {"check_id": tls["id"], "reason": "again"}, format="json"
    )
    assert again.status_code == 409


def test_api_runs_checks_on_demand_and_takes_attestations(
    service, people, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr("failover.dispatch.send_now", lambda task, *a, **kw: sent.append((task, a)))
    request = declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu down"
    )
    base = f"/api/v1/failover-requests/{request.pk}/"
    assert api_as(people["outsider"]).post(base + "readiness/run/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(people["executor"]).post(base + "readiness/run/")
    assert response.status_code == 202 and (svc.TASK, (request.pk,)) in sent

    attest = base + "secret-attestations/"
    payload = {"secret_name": "tls_private_key", "rotated_at": "2026-11-01T09:30:00Z"}
    assert api_as(people["avail"]).post(attest, payload, format="json").status_code == 403
    bad = api_as(people["identity"]).post(attest, {**payload, "extra": 1}, format="json")
    assert bad.status_code == 400
    future = {**payload, "rotated_at": "2999-01-01T00:00:00Z"}
    assert api_as(people["identity"]).post(attest, future, format="json").status_code == 400
    assert not SecretAttestation.objects.exists()
    response = api_as(people["identity"]).post(attest, payload, format="json")
    assert response.status_code == 201 and response.json()["attested_by"] == "identity"
    scoped = api_as(people["identity"], actions=["read"])
    assert scoped.post(attest, payload, format="json").status_code == 403
