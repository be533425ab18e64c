"""Passkey step-up without a browser: a software authenticator (tests/identity/webauthn.py)
answers the challenges, py_webauthn verifies, and identity/proofs.py re-checks the stored
assertion: an approval is provably for this plan by this person's key."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from approvals.models import Decision
from audit.models import AuditEvent
from failover.services import declare_request
from identity.models import Passkey, StepUpProof
from identity.proofs import check_proof
from identity.stepup import Binding, StepUpError, confirm
from tests.identity.webauthn import ORIGIN, RP_ID, SoftKey, answer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def relying_party(settings):
    settings.WEBAUTHN_RP_ID = RP_ID
    settings.WEBAUTHN_ORIGINS = [ORIGIN]


@pytest.fixture
def request_(service, people):
    return declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu-west-1 down"
    )


@pytest.fixture
def avail_key(people):
    key = SoftKey()
    key.register(people["avail"])
    return key


def approve_binding(request_) -> Binding:
    return Binding("approve", f"request:{request_.pk}", request_.plan_hash)


def test_a_passkey_answer_confirms_and_the_stored_proof_checks_out(people, request_, avail_key):
    binding = approve_binding(request_)
    proof = confirm(people["avail"], binding, answer(avail_key, people["avail"], binding))
    assert proof.method == "passkey" and proof.passkey.credential_id == avail_key.credential_id
    assert json.loads(proof.client_data_json)["type"] == "webauthn.get"
    ok, reason = check_proof(StepUpProof.objects.get(pk=proof.pk))
    assert ok, reason
    assert request_.plan_hash in reason
    passkey = Passkey.objects.get()
    assert passkey.sign_count == 1 and passkey.last_used_at is not None


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("plan_hash", "0" * 64, "another act, object or plan"),
        ("act", "veto", "another act, object or plan"),
        ("target", "request:999", "another act, object or plan"),
        ("signature", None, "signature does not verify"),
        ("authenticator_data", None, "signature does not verify"),
    ],
)
def test_altering_a_stored_proof_makes_the_check_fail(
    people, request_, avail_key, field, value, reason
):
    binding = approve_binding(request_)
    proof = confirm(people["avail"], binding, answer(avail_key, people["avail"], binding))
    if value is None:  # change one character (in the counter of authenticatorData)
        stored, at = getattr(proof, field), 45
        value = stored[:at] + ("A" if stored[at] != "A" else "B") + stored[at + 1 :]
    StepUpProof.objects.filter(pk=proof.pk).update(**{field: value})
    ok, why = check_proof(StepUpProof.objects.get(pk=proof.pk))
    assert not ok and reason in why
    with pytest.raises(CommandError, match="does NOT check out"):
        call_command("check_step_up", str(proof.pk))


def test_the_command_prints_the_verdict(people, request_, avail_key, capsys):
    binding = approve_binding(request_)
    proof = confirm(people["avail"], binding, answer(avail_key, people["avail"], binding))
    call_command("check_step_up", str(proof.pk))
    assert f"proof {proof.pk} checks out" in capsys.readouterr().out


def test_an_answer_for_another_plan_or_act_is_refused(people, request_, avail_key):
    user = people["avail"]
    binding = approve_binding(request_)
    evidence = answer(avail_key, user, binding)
    for other in (
        Binding("approve", binding.target, "0" * 64),
        Binding("veto", binding.target, binding.plan_hash),
        Binding("approve", "request:999", binding.plan_hash),
    ):
        with pytest.raises(StepUpError, match="another act or plan"):
            confirm(user, other, evidence)
    # A challenge issued for the other plan, answered with the signature over this one.
    other = Binding("approve", binding.target, "0" * 64)
    forged = {**answer(avail_key, user, other), "passkey": evidence["passkey"]}
    with pytest.raises(StepUpError, match="did not verify"):
        confirm(user, other, forged)
    assert not StepUpProof.objects.exists()


def test_an_answer_is_accepted_once(people, request_, avail_key):
    binding = approve_binding(request_)
    evidence = answer(avail_key, people["avail"], binding)
    confirm(people["avail"], binding, evidence)
    with pytest.raises(StepUpError):
        confirm(people["avail"], binding, evidence)
    assert StepUpProof.objects.count() == 1


def test_a_cloned_key_with_a_lower_counter_is_refused(people, request_, avail_key):
    user, binding = people["avail"], approve_binding(request_)
    Passkey.objects.update(sign_count=10)
    options = answer(avail_key, user, binding)  # counter 1 < 10
    with pytest.raises(StepUpError, match="sign count"):
        confirm(user, binding, options)


def test_user_verification_is_required(people, request_, avail_key):
    from identity.passkeys import authentication_options

    user, binding = people["avail"], approve_binding(request_)
    options = authentication_options(user, binding)
    evidence = {
        "challenge": options["challenge"],
        "passkey": json.dumps(avail_key.assert_(options["publicKey"]["challenge"], verified=False)),
    }
    with pytest.raises(StepUpError, match="did not verify"):
        confirm(user, binding, evidence)


def test_someone_elses_passkey_does_not_confirm(people, request_, avail_key):
    binding = Binding("approve", f"request:{request_.pk}", request_.plan_hash)
    SoftKey().register(people["identity"])
    # identity answers with avail's key (its challenge, avail's credential).
    evidence = answer(avail_key, people["identity"], binding)
    with pytest.raises(StepUpError, match="not one of yours"):
        confirm(people["identity"], binding, evidence)


def test_a_removed_passkey_no_longer_confirms_but_its_proofs_stay_checkable(
    client, people, request_, avail_key
):
    user, binding = people["avail"], approve_binding(request_)
    proof = confirm(user, binding, answer(avail_key, user, binding))
    client.force_login(user)
    passkey = Passkey.objects.get()
    response = client.post(f"/account/passkeys/{passkey.pk}/remove/", follow=True)
    assert response.status_code == 200
    assert "no longer confirms" in response.content.decode()
    assert not Passkey.objects.exists()
    assert AuditEvent.objects.filter(action="identity.passkey_removed").exists()
    # The key still exists on the device: its answers are refused.
    with pytest.raises(StepUpError):
        confirm(user, binding, {"challenge": "x", "passkey": json.dumps(avail_key.assert_(b"x"))})
    ok, reason = check_proof(StepUpProof.objects.get(pk=proof.pk))
    assert not ok  # registered directly here, so no enrolment event holds its key
    assert "public key is not known" in reason


# --- the request page and the API with a passkey ---------------------------------------------


def web_answer(client, key, binding) -> dict:
    """What stepup.js posts: a challenge from the web endpoint, signed by the key."""
    got = client.post(
        "/account/step-up/challenge/",
        {"act": binding.act, "target": binding.target, "plan_hash": binding.plan_hash},
    )
    assert got.status_code == 200, got.content
    data = got.json()
    assert data["publicKey"]["userVerification"] == "required"
    return {
        "challenge": data["challenge"],
        "passkey": json.dumps(key.assert_(data["publicKey"]["challenge"])),
    }


def test_approving_on_the_page_with_a_passkey_keeps_the_proof(client, people, request_, avail_key):
    client.force_login(people["avail"])
    page = client.get(f"/requests/{request_.pk}/").content.decode()
    assert 'data-step-up-act="approve"' in page and "Confirm with your passkey" in page
    form = {"kind": "approve", "role": "availability", "plan_hash": request_.plan_hash}
    evidence = web_answer(client, avail_key, approve_binding(request_))
    response = client.post(f"/requests/{request_.pk}/", {**form, **evidence})
    assert response.status_code == 302, response.content.decode()[-2000:]
    decision = Decision.objects.get(request=request_)
    assert decision.step_up.method == "passkey"
    assert decision.step_up.plan_hash == request_.plan_hash
    assert check_proof(decision.step_up)[0]


def test_a_replayed_answer_on_another_request_is_refused(client, people, service, request_):
    key = SoftKey()
    key.register(people["avail"])
    client.force_login(people["avail"])
    evidence = web_answer(client, key, approve_binding(request_))
    # A second request of another service: the captured fields on its form.
    from tests.factories import PERSONAS, make_service

    chain = {}
    for name, authority in PERSONAS.items():
        chain.setdefault(authority, []).append(name)
    other_service = make_service("payments", chain=chain, zone="payments.test.")
    other = declare_request(
        actor=people["declarer"], service=other_service, target="failover", reason="down"
    )
    form = {"kind": "approve", "role": "availability", "plan_hash": other.plan_hash}
    response = client.post(f"/requests/{other.pk}/", {**form, **evidence})
    assert response.status_code == 400
    assert "another act or plan" in response.content.decode()
    assert not Decision.objects.exists() and not StepUpProof.objects.exists()


def test_the_api_gives_a_challenge_and_takes_the_answer(people, request_, avail_key):
    api = APIClient()
    api.force_login(people["avail"])
    binding = approve_binding(request_)
    got = api.post(
        "/api/v1/step-up/challenge/",
        {"act": "approve", "target": binding.target, "plan_hash": binding.plan_hash},
        format="json",
    )
    assert got.status_code == 200, got.content
    body = {
        "kind": "approve",
        "role": "availability",
        "plan_hash": request_.plan_hash,
        "comment": "api",
        "step_up": {
            "challenge": got.json()["challenge"],
            "passkey": avail_key.assert_(got.json()["publicKey"]["challenge"]),
        },
    }
    url = f"/api/v1/failover-requests/{request_.pk}/decisions/"
    done = api.post(url, body, format="json")
    assert done.status_code == 201, done.content
    assert check_proof(Decision.objects.get().step_up)[0]


def test_the_api_challenge_refuses_bad_input_and_tokens(people, avail_key):
    api = APIClient()
    api.force_login(people["avail"])
    url = "/api/v1/step-up/challenge/"
    assert api.post(url, {"act": 5}, format="json").status_code == 400
    assert api.post(url, {"act": "x" * 31}, format="json").status_code == 400
    assert api.post(url, {"act": "approve", "nope": 1}, format="json").status_code == 400
    api.force_login(people["identity"])  # no passkey
    refused = api.post(url, {"act": "approve"}, format="json")
    assert refused.status_code == 400 and "no passkey" in refused.content.decode()


def test_a_token_renews_its_step_up_with_a_passkey(people, avail_key):
    from approvals.tokens import RENEW_ACT
    from tests.tokens import personal_token

    token, plain = personal_token(people["avail"], name="t")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    binding = {"act": RENEW_ACT, "target": f"token:{token.prefix}"}
    got = api.post("/api/v1/step-up/challenge/", binding, format="json")
    assert got.status_code == 200, got.content
    answer_ = {
        "challenge": got.json()["challenge"],
        "passkey": avail_key.assert_(got.json()["publicKey"]["challenge"]),
    }
    done = api.post("/api/v1/tokens/current/step-up/", {"step_up": answer_}, format="json")
    assert done.status_code == 200, done.content
    proof = StepUpProof.objects.get(act=RENEW_ACT)
    assert proof.method == "passkey" and check_proof(proof)[0]


# --- enrolment ---------------------------------------------------------------------------


def enrol(client, key: SoftKey, **fields):
    options = client.post("/account/passkeys/options/").json()["publicKey"]
    assert options["authenticatorSelection"]["userVerification"] == "required"
    attestation = json.dumps(key.attest(options["challenge"]))
    return client.post(
        "/account/passkeys/add/", {"name": "laptop", "attestation": attestation, **fields}
    )


def test_a_first_passkey_needs_a_recent_sign_in(client, people):
    from identity.sessions import SIGNED_IN_AT

    user = people["comms"]
    user.set_unusable_password()
    user.save()
    client.force_login(user)  # records the sign-in time
    page = client.get("/account/security/").content.decode()
    assert "no way to confirm it is you yet" in page
    session = client.session
    session[SIGNED_IN_AT] -= 11 * 60
    session.save()
    refused = enrol(client, SoftKey())
    assert refused.status_code == 403 and not Passkey.objects.exists()
    client.force_login(user)
    done = enrol(client, SoftKey())
    assert done.status_code == 302
    passkey = Passkey.objects.get(user=user)
    event = AuditEvent.objects.get(action="identity.passkey_added")
    assert event.data["credential_id"] == passkey.credential_id
    assert "laptop" in client.get("/account/security/").content.decode()


def test_a_second_passkey_needs_a_step_up_with_the_first(client, people):
    user = people["comms"]
    user.set_unusable_password()
    user.save()
    first = SoftKey()
    first.register(user)
    client.force_login(user)
    refused = enrol(client, SoftKey())
    assert refused.status_code == 400 and Passkey.objects.count() == 1
    evidence = web_answer(client, first, Binding("add_passkey", f"user:{user.pk}"))
    done = enrol(client, SoftKey(), **evidence)
    assert done.status_code == 302 and Passkey.objects.count() == 2
    proof = StepUpProof.objects.get(act="add_passkey")
    assert check_proof(proof)[0]
    added = AuditEvent.objects.get(action="identity.passkey_added")
    assert added.data["step_up"]["id"] == proof.pk


def test_a_proof_stays_checkable_after_its_passkey_is_removed(client, people, request_):
    user = people["avail"]
    user.set_unusable_password()
    user.save()
    client.force_login(user)
    key = SoftKey()
    assert enrol(client, key).status_code == 302
    binding = approve_binding(request_)
    proof = confirm(user, binding, answer(key, user, binding))
    client.post(f"/account/passkeys/{Passkey.objects.get().pk}/remove/")
    ok, reason = check_proof(StepUpProof.objects.get(pk=proof.pk))
    assert ok, reason


def test_someone_without_a_way_to_confirm_is_shown_how_to_enrol(client, people, request_):
    user = people["avail"]
    user.set_unusable_password()
    user.save()
    client.force_login(user)
    page = client.get(f"/requests/{request_.pk}/").content.decode()
    assert "You have no way to confirm it is you yet" in page
    assert 'href="/account/security/"' in page


def test_breaking_the_glass_with_a_passkey_binds_the_plan(client, people, request_):
    from django.urls import reverse

    key = SoftKey()
    key.register(people["breakglass"])
    client.force_login(people["breakglass"])
    url = reverse("break-glass", args=[request_.pk])
    page = client.get(url).content.decode()
    assert 'data-step-up-act="break_glass"' in page and "Confirm with your passkey" in page
    binding = Binding("break_glass", f"request:{request_.pk}", request_.plan_hash)
    form = {
        "justification": "eu-west-1 is down, approvers unreachable",
        "plan_hash": binding.plan_hash,
    }
    response = client.post(url, {**form, **web_answer(client, key, binding)})
    assert response.status_code == 302, response.content.decode()[-1500:]
    proof = StepUpProof.objects.get()
    assert (proof.method, proof.act, proof.plan_hash) == (
        "passkey",
        "break_glass",
        request_.plan_hash,
    )
    assert check_proof(proof)[0]


def test_declaring_and_executing_with_a_passkey(client, db):
    from django.contrib.auth import get_user_model

    from failover.demo.seed import seed_demo
    from failover.models import FailoverRequest, Service
    from failover.services import record_signal

    seed_demo()
    record_signal(
        service=Service.objects.get(slug="status-page"), metric="error_rate", value=12, source="t"
    )
    ic = get_user_model().objects.get(username="ic")
    key = SoftKey()
    key.register(ic)
    client.force_login(ic)
    page = client.get("/declare/?service=status-page").content.decode()
    assert "Confirm with your passkey" in page and 'data-step-up-intent="execute"' in page
    form = {
        "destination": "status-page/backup",
        "reason": "status page erroring",
        "min_minutes_on_target": 30,
        "primary_healthy_minutes": 15,
        "decide_within_minutes": 60,
        "intent": "execute",
    }
    answer_ = web_answer(client, key, Binding("execute", "new-request", ""))
    response = client.post("/declare/", {**form, **answer_})
    assert response.status_code == 302, response.content.decode()[-1500:]
    assert FailoverRequest.objects.get().state == "executing"
    proof = StepUpProof.objects.get()
    assert (proof.method, proof.act, proof.target) == ("passkey", "execute", "new-request")
    assert check_proof(proof)[0]


def test_the_report_shows_how_each_decision_was_confirmed(client, people, request_, avail_key):
    """The post-incident report checks a passkey's signature again; a proof altered in the
    database (another plan) is reported as not verifying."""
    from failover.report.evidence import build_report
    from failover.report.markdown import render

    client.force_login(people["avail"])
    form = {"kind": "approve", "role": "availability", "plan_hash": request_.plan_hash}
    evidence = web_answer(client, avail_key, approve_binding(request_))
    assert client.post(f"/requests/{request_.pk}/", {**form, **evidence}).status_code == 302
    [row] = build_report(request_)["decisions"]
    assert row["step_up"]["method"] == "passkey" and row["step_up"]["verified"] is True
    page = client.get(f"/requests/{request_.pk}/report/").content.decode()
    assert "passkey (signature verifies for this plan)" in page
    StepUpProof.objects.update(plan_hash="0" * 64)
    [row] = build_report(request_)["decisions"]
    assert row["step_up"]["verified"] is False
    assert "DOES NOT VERIFY" in render(build_report(request_))


def test_the_security_page_opened_elsewhere_says_where_passkeys_work(client, people, settings):
    """WebAuthn refuses an IP address as relying party: the demo runs at localhost, and a page
    opened at 127.0.0.1 says where to go instead of failing silently."""
    client.force_login(people["avail"])
    page = client.get("/account/security/", HTTP_HOST="127.0.0.1").content.decode()
    assert "data-passkey-home" in page and f"{ORIGIN}/account/security/" in page
    settings.WEBAUTHN_ORIGINS = ["http://127.0.0.1"]
    page = client.get("/account/security/", HTTP_HOST="127.0.0.1").content.decode()
    assert "data-passkey-home" not in page
