"""Authenticator-app codes (TOTP) and recovery codes: enrolment on the person's pages, step-up
with them on the request page and the API, one use per code, the lock, and the audit."""

from __future__ import annotations

import re
import time

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from approvals.models import Decision
from audit.models import AuditEvent
from failover.services import declare_request
from identity.models import StepUpProof
from identity.sessions import SIGNED_IN_AT
from tests.factories import user
from tests.secrets_registry import REGISTRY

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_passwords(settings):
    """People here confirm with codes only (as with SSO and local passwords off)."""
    settings.LOCAL_PASSWORDS = False


@pytest.fixture
def request_(service, people):
    return declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu-west-1 down"
    )


def code_at(device: TOTPDevice, steps: int) -> str:
    """The code of `device` `steps` time steps from now, as an app would show it."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, 0)
    totp.time = time.time() + steps * device.step
    return f"{totp.token():0{device.digits}d}"


def signed_in(client, name):
    client.force_login(user(name))  # records the sign-in time, like any sign-in
    return client


def enrol(client, name="work phone", **step_up) -> TOTPDevice:
    """Add an app through the pages: start, see the QR code, confirm with a first code."""
    started = client.post("/account/totp/", {"name": name, **step_up})
    assert started.status_code == 302, started.content.decode()
    device = TOTPDevice.objects.get(name=name, confirmed=False)
    REGISTRY.register(device.key, "TOTP key")  # must never reach a log or an audit event
    # Two steps each way: a test crossing a 30 s boundary still finds its codes in the window.
    TOTPDevice.objects.filter(pk=device.pk).update(tolerance=2)
    shown = client.get("/account/totp/confirm/").content.decode()
    assert '<svg role="img"' in shown and "data:" not in shown  # inline SVG: the CSP allows it
    assert " ".join(re.findall(r"....", _b32(device))) in shown  # the key as text, grouped
    done = client.post("/account/totp/confirm/", {"code": code_at(device, -1)})
    assert done.status_code in (200, 302), done.content.decode()
    device.refresh_from_db()
    assert device.confirmed
    return device


def _b32(device):
    import base64

    return base64.b32encode(device.bin_key).decode().rstrip("=")


def approve_on_page(client, request_, **evidence):
    form = {"kind": "approve", "role": "availability", "plan_hash": request_.plan_hash}
    return client.post(f"/requests/{request_.pk}/", {**form, **evidence})


# --- enrolment --------------------------------------------------------------------------------


def test_an_app_counts_only_once_its_first_code_is_confirmed(client, people, no_passwords):
    signed_in(client, "avail")
    client.post("/account/totp/", {"name": "phone"})
    device = TOTPDevice.objects.get(user=people["avail"])
    assert not device.confirmed
    from identity.codes import totp_available

    assert not totp_available(people["avail"])  # scanned but not confirmed: no method yet
    wrong = client.post("/account/totp/confirm/", {"code": "000000"})
    assert wrong.status_code == 400 and "did not match" in wrong.content.decode()
    assert not AuditEvent.objects.filter(action="identity.totp_added").exists()
    ok = client.post("/account/totp/confirm/", {"code": code_at(device, 0)})
    assert ok.status_code == 200  # the first method: recovery codes shown with it
    assert totp_available(people["avail"])
    event = AuditEvent.objects.get(action="identity.totp_added")
    assert event.actor == "avail" and "phone" in event.data["device"]
    assert device.key not in str(event.data)


def test_a_first_app_needs_a_recent_sign_in(client, people, no_passwords):
    signed_in(client, "avail")
    session = client.session
    session[SIGNED_IN_AT] -= 11 * 60
    session.save()
    page = client.post("/account/totp/", {"name": "phone"})
    assert page.status_code == 403
    assert "sign out and sign in again" in page.content.decode()
    assert not TOTPDevice.objects.exists()


def test_a_second_app_needs_a_step_up_with_the_first(client, people, no_passwords):
    signed_in(client, "avail")
    first = enrol(client, "phone")
    refused = client.post("/account/totp/", {"name": "tablet"})
    assert refused.status_code == 400
    assert "authenticator app" in refused.content.decode()
    assert not TOTPDevice.objects.filter(name="tablet").exists()
    enrol(client, "tablet", totp=code_at(first, 0))
    proof = StepUpProof.objects.get(act="add_totp")
    assert proof.target == f"user:{people['avail'].pk}" and proof.method == "totp"
    assert "phone" in proof.device


def test_a_first_app_comes_with_ten_recovery_codes_shown_once(client, people, no_passwords):
    signed_in(client, "avail")
    client.post("/account/totp/", {"name": "phone"})
    device = TOTPDevice.objects.get(user=people["avail"])
    page = client.post("/account/totp/confirm/", {"code": code_at(device, 0)}).content.decode()
    shown = re.findall(r"<li>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</li>", page)
    assert len(shown) == 10
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert len(stored) == 10 and not stored & {c.replace("-", "") for c in shown}  # hashed
    again = client.get("/account/recovery-codes/").content.decode()
    assert shown[0] not in again and "10 of 10" in again


def test_removing_an_app_needs_a_step_up_and_is_audited(client, people, no_passwords):
    signed_in(client, "avail")
    device = enrol(client)
    refused = client.post(f"/account/totp/{device.pk}/remove/", {})
    assert refused.status_code == 400 and TOTPDevice.objects.filter(pk=device.pk).exists()
    done = client.post(f"/account/totp/{device.pk}/remove/", {"totp": code_at(device, 0)})
    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    event = AuditEvent.objects.get(action="identity.totp_removed")
    assert "work phone" in event.data["device"]
    assert StepUpProof.objects.get(act="remove_totp").target == f"totp:{device.pk}"


def test_someone_elses_app_cannot_be_removed(client, people, no_passwords):
    signed_in(client, "avail")
    device = enrol(client)
    signed_in(client, "vetoer")
    assert client.post(f"/account/totp/{device.pk}/remove/", {}).status_code == 404
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


# --- step-up with a code ----------------------------------------------------------------------


def test_a_code_confirms_an_approval_on_the_request_page(client, request_, no_passwords):
    signed_in(client, "avail")
    device = enrol(client)
    page = approve_on_page(client, request_, totp=code_at(device, 0))
    assert page.status_code == 302, page.content.decode()
    decision = Decision.objects.get(request=request_, actor__username="avail")
    assert decision.step_up.method == "totp"
    assert decision.step_up.act == "approve" and "work phone" in decision.step_up.device


def test_a_used_code_is_refused_the_second_time(client, request_, people, no_passwords):
    signed_in(client, "avail")
    device = enrol(client)
    code = code_at(device, 0)
    from identity.codes import totp_verify
    from identity.stepup import Binding, WrongAnswer

    totp_verify(people["avail"], Binding("veto", f"request:{request_.pk}"), {"totp": code})
    with pytest.raises(WrongAnswer):  # django-otp's last_t: the same step never again
        totp_verify(people["avail"], Binding("veto", f"request:{request_.pk}"), {"totp": code})
    replay = approve_on_page(client, request_, totp=code)
    assert replay.status_code == 400 and "works once" in replay.content.decode()
    assert not Decision.objects.filter(request=request_).exists()


def test_wrong_codes_count_towards_the_lock(client, request_, no_passwords):
    signed_in(client, "avail")
    device = enrol(client)
    for _ in range(4):
        assert approve_on_page(client, request_, totp="123 456").status_code == 400
    locked = approve_on_page(client, request_, totp="000000")
    assert locked.status_code == 429
    assert "locked" in locked.content.decode()
    # Locked: even the right code is refused now.
    assert approve_on_page(client, request_, totp=code_at(device, 0)).status_code == 429
    assert not Decision.objects.filter(request=request_).exists()


def test_a_recovery_code_works_once(client, request_, people, no_passwords):
    signed_in(client, "avail")
    page = client.post("/account/recovery-codes/", {}).content.decode()  # first method
    codes = re.findall(r"<li>([a-z2-7-]{19})</li>", page)
    assert len(codes) == 10
    for c in codes:
        REGISTRY.register(c, "recovery code")
    typed = codes[3].upper().replace("-", " ")  # as read aloud from paper
    assert approve_on_page(client, request_, recovery_code=typed).status_code == 302
    decision = Decision.objects.get(request=request_)
    assert decision.step_up.method == "recovery" and "9 left" in decision.step_up.device
    used = AuditEvent.objects.get(action="identity.recovery_codes_used")
    assert used.data["left"] == 9 and used.data["act"] == "approve"
    assert "9 of 10" in client.get("/account/recovery-codes/").content.decode()
    veto = {"kind": "veto", "comment": "wait", "recovery_code": codes[3]}
    again = client.post(f"/requests/{request_.pk}/", veto)
    assert again.status_code == 400 and "unused recovery codes" in again.content.decode()


def test_new_recovery_codes_need_a_step_up_and_replace_the_old(client, people, no_passwords):
    signed_in(client, "avail")
    old = re.findall(
        r"<li>([a-z2-7-]{19})</li>", client.post("/account/recovery-codes/", {}).content.decode()
    )
    refused = client.post("/account/recovery-codes/", {})
    assert refused.status_code == 400 and StaticToken.objects.count() == 10
    page = client.post("/account/recovery-codes/", {"recovery_code": old[0]}).content.decode()
    new = re.findall(r"<li>([a-z2-7-]{19})</li>", page)
    assert len(new) == 10 and not set(new) & set(old)
    from identity.codes import recovery_verify
    from identity.stepup import Binding, WrongAnswer

    with pytest.raises(WrongAnswer):  # the old ones stopped working
        recovery_verify(people["avail"], Binding("veto"), {"recovery_code": old[1]})
    events = AuditEvent.objects.filter(action="identity.recovery_codes_generated")
    assert [e.data["unused_replaced"] for e in events.order_by("seq")] == [0, 9]


def test_an_api_session_caller_confirms_with_a_code(client, request_, people, no_passwords):
    signed_in(client, "avail")
    device = enrol(client)
    api = APIClient()
    api.force_login(people["avail"])
    url = f"/api/v1/failover-requests/{request_.pk}/decisions/"
    body = {"kind": "approve", "role": "availability", "plan_hash": request_.plan_hash}
    refused = api.post(url, {**body, "step_up": {"totp": "000000"}}, format="json")
    assert refused.status_code == 400 and "step_up" in refused.json()["error"]["fields"]
    done = api.post(url, {**body, "step_up": {"totp": code_at(device, 0)}}, format="json")
    assert done.status_code == 201, done.content
    assert Decision.objects.get(request=request_).step_up.method == "totp"


def test_no_code_or_key_reaches_an_audit_event(client, request_, people, no_passwords):
    signed_in(client, "avail")
    device = enrol(client)
    code = code_at(device, 0)
    approve_on_page(client, request_, totp=code)
    text = " ".join(str(e.data) for e in AuditEvent.objects.all())
    assert device.key not in text and _b32(device) not in text
    assert f"'{code}'" not in text and f'"{code}"' not in text


def test_the_security_page_shows_apps_and_codes_left(client, people, no_passwords):
    signed_in(client, "avail")
    enrol(client, "phone")  # first method: with 10 recovery codes
    html = client.get("/account/security/").content.decode()
    assert "phone" in html and "10 of 10" in html
    assert 'href="/account/totp/"' in html and 'href="/account/recovery-codes/"' in html


# --- the pages and bad input -------------------------------------------------------------------


def test_the_pages_offer_each_way_to_confirm_the_person_has(client, people):
    from identity import codes

    signed_in(client, "avail")
    TOTPDevice.objects.create(user=people["avail"], name="phone", confirmed=True)
    codes.generate_recovery_codes(people["avail"], actor=people["avail"])
    for url in ("/account/totp/", "/account/recovery-codes/"):
        page = client.get(url).content.decode()
        assert 'name="totp"' in page and 'name="recovery_code"' in page
        assert 'name="password"' in page  # local passwords on, and the person has one
        assert "data-step-up-act=" in page  # where the passkey script adds its button


@pytest.mark.parametrize(
    "method, url, form, status",
    [
        ("post", "/account/totp/", {"name": ""}, 400),
        ("post", "/account/totp/", {"name": "x" * 65}, 400),
        ("post", "/account/totp/confirm/", {"code": "123456"}, 404),  # nothing being added
        ("post", "/account/totp/999999/remove/", {}, 404),
        ("get", "/account/totp/1/remove/", {}, 405),
        ("post", "/account/recovery-codes/", {"recovery_code": "x" * 5000}, 400),
    ],
)
def test_bad_input_is_a_clear_4xx(client, people, no_passwords, method, url, form, status):
    signed_in(client, "avail")
    TOTPDevice.objects.create(user=people["avail"], name="phone", confirmed=True)
    answer = getattr(client, method)(url, form)
    assert answer.status_code == status


def test_a_started_app_expires_unconfirmed(client, people, no_passwords):
    from datetime import timedelta

    signed_in(client, "avail")
    client.post("/account/totp/", {"name": "phone"})
    device = TOTPDevice.objects.get(user=people["avail"])
    TOTPDevice.objects.filter(pk=device.pk).update(
        created_at=device.created_at - timedelta(minutes=11)
    )
    late = client.post("/account/totp/confirm/", {"code": code_at(device, 0)})
    assert late.status_code == 404 and "start again" in late.content.decode()
    assert not TOTPDevice.objects.filter(confirmed=True).exists()


def test_the_pages_need_a_signed_in_person(client):
    for url in ("/account/totp/", "/account/totp/confirm/", "/account/recovery-codes/"):
        answer = client.get(url)
        assert answer.status_code == 302 and "/login/" in answer["Location"]
