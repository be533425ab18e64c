"""Sign-in throttling: failures counted per username and per client address, a lockout that
holds even against the right password, a clear message, and an audit event for each refusal —
on the browser sign-in and on the admin's."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "right-horse-battery"


@pytest.fixture
def people(db):
    make = get_user_model().objects.create_user
    return {
        "ic": make("ic", password=PASSWORD),
        "avail": make("avail", password=PASSWORD),
        "admin": make("admin", password=PASSWORD, is_staff=True, is_superuser=True),
    }


def sign_in(client, username, password, *, path="/login/", address="10.0.0.1"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_five_wrong_passwords_lock_the_username_even_against_the_right_one(client, people):
    for _ in range(5):
        assert sign_in(client, "ic", "guess").status_code == 400
    response = sign_in(client, "ic", PASSWORD)
    assert response.status_code == 429
    assert 800 < int(response["Retry-After"]) <= 900
    assert "Too many failed sign-ins for this username" in response.text
    assert "locked for 15 more minutes" in response.text
    assert not signed_in(client)
    assert len(events("auth.sign_in_failed")) == 5
    assert not events("auth.signed_in")
    [refusal] = events("auth.sign_in_throttled")
    assert refusal.object_id == "ic" and refusal.actor == "system"
    assert refusal.data["scope"] == "username" and refusal.data["ip"] == "10.0.0.1"
    assert PASSWORD not in str(refusal.data)

    # Another person at the same address is not affected; nor is "ic" guessed as "IC".
    assert sign_in(client, "avail", PASSWORD).status_code == 302
    client.logout()
    assert sign_in(client, "IC", PASSWORD, address="10.9.9.9").status_code == 429


def test_the_lock_ends_after_the_window(client, people, settings):
    settings.SIGNIN_LOCKOUT_SECONDS = 1
    for _ in range(5):
        sign_in(client, "ic", "guess")
    assert sign_in(client, "ic", PASSWORD).status_code == 429
    time.sleep(1.2)
    assert sign_in(client, "ic", PASSWORD).status_code == 302


def test_a_right_password_ends_the_count(client, people):
    for _ in range(4):
        sign_in(client, "ic", "guess")
    assert sign_in(client, "ic", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        sign_in(client, "ic", "guess")
    assert sign_in(client, "ic", PASSWORD).status_code == 302


def test_a_missing_password_is_not_a_guess(client, people):
    for _ in range(10):
        assert sign_in(client, "ic", "").status_code == 400
    assert sign_in(client, "ic", PASSWORD).status_code == 302


def test_many_usernames_from_one_address_lock_the_address(client, people):
    for n in range(20):
        assert sign_in(client, f"nobody{n}", "guess").status_code == 400
    response = sign_in(client, "ic", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-ins from your network address" in response.text
    [refusal] = events("auth.sign_in_throttled")
    assert refusal.data["scope"] == "address"
    # Elsewhere the same person signs in.
    assert sign_in(client, "ic", PASSWORD, address="10.0.0.2").status_code == 302


def test_the_admin_sign_in_shares_the_lockout(client, people):
    for _ in range(3):
        assert sign_in(client, "admin", "guess", path="/admin/login/").status_code == 200
    for _ in range(2):
        sign_in(client, "admin", "guess")
    response = sign_in(client, "admin", PASSWORD, path="/admin/login/")
    assert "Too many failed sign-ins for this username" in response.text
    assert not signed_in(client)
    assert events("auth.sign_in_throttled")[0].data["scope"] == "username"


def test_a_non_staff_account_at_the_admin_is_refused_without_counting(client, people):
    for _ in range(6):
        response = sign_in(client, "ic", PASSWORD, path="/admin/login/")
        assert "staff account" in response.text
    assert sign_in(client, "ic", PASSWORD).status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, people, settings):
    settings.SIGNIN_TRUST_X_FORWARDED_FOR = True
    for n in range(20):
        client.post(
            "/login/",
            {"username": f"nobody{n}", "password": "guess"},
            REMOTE_ADDR="10.0.0.254",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.7",
        )
    # Other clients behind the same proxy are not locked out.
    assert sign_in(client, "ic", PASSWORD, address="10.0.0.254").status_code == 302
    client.logout()
    response = client.post(
        "/login/",
        {"username": "avail", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.254",
        HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7",  # what a client writes does not help
    )
    assert response.status_code == 429
    assert events("auth.sign_in_throttled")[0].data["ip"] == "203.0.113.7"
