"""Two-admin reset of a person's lost step-up credentials: one administrator requests, a
different one approves within 24 h, nobody resets themself; audited, and the person is told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from identity import codes, resets
from identity.models import CredentialReset, Passkey
from tests.factories import user

pytestmark = pytest.mark.django_db


def admin_user(name, **fields):
    person = user(name, is_staff=True, email=f"{name}@example.test", **fields)
    person.user_permissions.add(Permission.objects.get(codename="add_credentialreset"))
    return type(person).objects.get(pk=person.pk)  # fresh: permissions are cached


@pytest.fixture
def admins(db):
    return admin_user("alice"), admin_user("bob"), user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def lost(db):
    """Someone who lost their phone: a passkey, an authenticator app, recovery codes."""
    person = user("dana", email="dana@example.test")
    Passkey.objects.create(user=person, name="laptop", credential_id="cred-1", public_key=b"k")
    TOTPDevice.objects.create(user=person, name="phone", confirmed=True)
    codes.generate_recovery_codes(person, actor=person)
    return person


def test_a_reset_needs_a_second_admin_and_then_removes_everything(
    admins, lost, django_capture_on_commit_callbacks
):
    alice, bob, _ = admins
    with django_capture_on_commit_callbacks(execute=True):
        reset = resets.request_reset(actor=alice, user=lost, reason="phone stolen, ticket 42")
    assert resets.credentials_of(lost) == {
        "passkeys": 1,
        "authenticator_apps": 1,
        "recovery_codes": 10,
    }  # nothing removed yet
    assert [m.to for m in mail.outbox] == [["dana@example.test"]]
    assert "alice" in mail.outbox[0].body and "phone stolen" in mail.outbox[0].body
    with django_capture_on_commit_callbacks(execute=True):
        done = resets.approve_reset(actor=bob, reset_id=reset.pk)
    assert done.approved_by == bob and done.approved_at
    assert resets.credentials_of(lost) == {
        "passkeys": 0,
        "authenticator_apps": 0,
        "recovery_codes": 0,
    }
    assert not codes.totp_available(lost) and not codes.recovery_available(lost)
    assert len(mail.outbox) == 2 and "approved by bob" in mail.outbox[1].body
    requested = AuditEvent.objects.get(action="identity.credentials_reset_requested")
    assert requested.actor == "alice" and requested.data["user"] == "dana"
    event = AuditEvent.objects.get(action="identity.credentials_reset")
    assert event.actor == "bob"
    assert (event.data["requested_by"], event.data["approved_by"]) == ("alice", "bob")
    assert event.data["removed"]["recovery_codes"] == 10


def test_a_reset_signs_the_person_out_everywhere(admins, lost):
    """A session on the lost device must not go on with the credentials gone."""
    from django.test import Client

    phone, laptop, other = Client(), Client(), Client()
    phone.force_login(lost)
    laptop.force_login(lost)
    other.force_login(admins[0])
    alice, bob, _ = admins
    reset = resets.request_reset(actor=alice, user=lost, reason="phone stolen, ticket 42")
    resets.approve_reset(actor=bob, reset_id=reset.pk)
    assert phone.get("/").status_code == 302 and laptop.get("/").status_code == 302
    assert other.get("/").status_code == 200  # nobody else is signed out
    event = AuditEvent.objects.get(action="identity.credentials_reset")
    assert event.data["sessions_ended"] == 2


def test_the_requester_cannot_approve_their_own_request(admins, lost):
    alice, _, _ = admins
    reset = resets.request_reset(actor=alice, user=lost, reason="lost")
    with pytest.raises(resets.ResetError, match="different administrator") as refused:
        resets.approve_reset(actor=alice, reset_id=reset.pk)
    assert refused.value.status == 403
    assert Passkey.objects.filter(user=lost).exists()
    assert not AuditEvent.objects.filter(action="identity.credentials_reset").exists()


def test_nobody_requests_or_approves_a_reset_of_themself(admins):
    alice, bob, root = admins
    with pytest.raises(resets.ResetError, match="your own"):
        resets.request_reset(actor=bob, user=bob, reason="lost my key")
    reset = resets.request_reset(actor=alice, user=bob, reason="bob lost his key")
    with pytest.raises(resets.ResetError, match="your own"):
        resets.approve_reset(actor=bob, reset_id=reset.pk)
    resets.approve_reset(actor=root, reset_id=reset.pk)  # a third admin may


def test_only_administrators_request_or_approve(admins, lost):
    alice, _, _ = admins
    staff_only = user("sam", is_staff=True)
    with pytest.raises(resets.ResetError) as refused:
        resets.request_reset(actor=staff_only, user=lost, reason="lost")
    assert refused.value.status == 403
    reset = resets.request_reset(actor=alice, user=lost, reason="lost")
    with pytest.raises(resets.ResetError):
        resets.approve_reset(actor=lost, reset_id=reset.pk)
    with pytest.raises(resets.ResetError):
        resets.approve_reset(actor=staff_only, reset_id=reset.pk)
    assert Passkey.objects.filter(user=lost).exists()


def test_a_reset_older_than_a_day_expires(admins, lost):
    alice, bob, _ = admins
    reset = resets.request_reset(actor=alice, user=lost, reason="lost")
    CredentialReset.objects.filter(pk=reset.pk).update(
        requested_at=reset.requested_at - timedelta(hours=24, minutes=1)
    )
    with pytest.raises(resets.ResetError, match="expired"):
        resets.approve_reset(actor=bob, reset_id=reset.pk)
    assert Passkey.objects.filter(user=lost).exists()
    again = resets.request_reset(actor=alice, user=lost, reason="still lost")  # may ask again
    resets.approve_reset(actor=bob, reset_id=again.pk)
    assert not Passkey.objects.filter(user=lost).exists()


def test_one_reset_waits_at_a_time_and_is_approved_once(admins, lost):
    alice, bob, root = admins
    reset = resets.request_reset(actor=alice, user=lost, reason="lost")
    with pytest.raises(resets.ResetError, match="already waiting"):
        resets.request_reset(actor=root, user=lost, reason="lost too")
    resets.approve_reset(actor=bob, reset_id=reset.pk)
    with pytest.raises(resets.ResetError, match="already approved"):
        resets.approve_reset(actor=root, reset_id=reset.pk)
    with pytest.raises(resets.ResetError, match="no such"):
        resets.approve_reset(actor=root, reset_id="nope")


# --- the admin ------------------------------------------------------------------------------


def test_the_admin_requests_and_a_second_admin_approves(client, admins, lost):
    alice, bob, _ = admins
    client.force_login(alice)
    added = client.post(
        "/admin/identity/credentialreset/add/", {"user": lost.pk, "reason": "phone stolen"}
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    reset = CredentialReset.objects.get(user=lost)
    assert reset.requested_by == alice and reset.approved_at is None
    action = {"action": "approve_selected", "_selected_action": [reset.pk]}
    own = client.post("/admin/identity/credentialreset/", action, follow=True)
    assert own.status_code == 200 and "different administrator" in own.content.decode()
    assert TOTPDevice.objects.filter(user=lost).exists()
    client.force_login(bob)
    done = client.post("/admin/identity/credentialreset/", action, follow=True)
    assert done.status_code == 200 and "credentials removed" in done.content.decode()
    assert not TOTPDevice.objects.filter(user=lost).exists()
    assert not StaticToken.objects.filter(device__user=lost).exists()
    listing = client.get("/admin/identity/credentialreset/").content.decode()
    assert "approved: removed" in listing


@pytest.mark.parametrize(
    "who, form, message",
    [
        ("alice", {"user": "", "reason": "x"}, "This field is required"),
        ("alice", {"user": "lost", "reason": "   "}, "say why"),
        ("alice", {"user": "alice", "reason": "mine"}, "your own credentials"),
        ("alice", {"user": "99999", "reason": "x"}, "Select a valid choice"),
    ],
)
def test_bad_admin_input_is_a_form_error(client, admins, lost, who, form, message):
    client.force_login(user(who))
    form = {
        **form,
        "user": {"lost": lost.pk, "alice": admins[0].pk}.get(form["user"], form["user"]),
    }
    page = client.post("/admin/identity/credentialreset/add/", form)
    assert page.status_code == 200 and message in page.content.decode()
    assert not CredentialReset.objects.exists()


def test_staff_without_the_permission_sees_no_resets(client, lost):
    client.force_login(user("sam", is_staff=True))
    assert client.get("/admin/identity/credentialreset/").status_code == 403
    page = client.post("/admin/identity/credentialreset/add/", {"user": lost.pk, "reason": "x"})
    assert page.status_code == 403 and not CredentialReset.objects.exists()


def test_evidence_is_read_only_and_no_totp_key_is_shown(client, admins, lost):
    client.force_login(admins[2])
    device = TOTPDevice.objects.get(user=lost)
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    assert page and device.key not in page
    passkey = Passkey.objects.get(user=lost)
    assert (
        client.post(f"/admin/identity/passkey/{passkey.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert Passkey.objects.filter(pk=passkey.pk).exists()


def test_the_admin_pages_render(client, admins, lost):
    alice, _, root = admins
    reset = resets.request_reset(actor=alice, user=lost, reason="lost")
    client.force_login(root)
    assert client.get("/admin/identity/credentialreset/add/").status_code == 200
    page = client.get(f"/admin/identity/credentialreset/{reset.pk}/change/").content.decode()
    assert "waiting for a second administrator" in page and "10 recovery codes" in page
    for url in ("passkey", "stepupproof", "externalidentity", "credentialreset"):
        assert client.get(f"/admin/identity/{url}/").status_code == 200
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 200
