"""Sign-in throttling: a username is locked only at the address its failures came from, slowed
down (never locked) everywhere else, an address spraying usernames is slowed down; the client
address is read through our own proxies only; failures are audited once per window per
username and address, with counts — on the browser sign-in and on the admin's. And the step-up
lock says how long it lasts and how to end it."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "right-horse-battery"
OWNER, ATTACKER = "10.0.0.1", "203.0.113.66"


@pytest.fixture
def people(db):
    make = get_user_model().objects.create_user
    return {
        "ic": make("ic", password=PASSWORD),
        "avail": make("avail", password=PASSWORD),
        "admin": make("admin", password=PASSWORD, is_staff=True, is_superuser=True),
    }


def sign_in(client, username, password, *, path="/login/", address=OWNER, **headers):
    return client.post(
        path, {"username": username, "password": password}, REMOTE_ADDR=address, **headers
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def events(action="auth.sign_in_failed"):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_five_wrong_passwords_lock_the_username_at_that_address_even_against_the_right_one(
    client, people
):
    for _ in range(5):
        assert sign_in(client, "ic", "guess").status_code == 400
    response = sign_in(client, "ic", PASSWORD)
    assert response.status_code == 429
    assert 800 < int(response["Retry-After"]) <= 900
    assert "Too many failed sign-ins for this username from your network address" in (response.text)
    assert "locked for 15 more minutes" in response.text
    assert not signed_in(client)
    assert not events("auth.signed_in")
    # Another person at the same address is not affected.
    assert sign_in(client, "avail", PASSWORD).status_code == 302


def test_an_attacker_elsewhere_cannot_lock_the_owner_out(client, people):
    assert sign_in(client, "ic", PASSWORD).status_code == 302  # the owner's usual address
    client.logout()
    for _ in range(50):  # guesses from one address: 5 checked, then that address is locked
        assert sign_in(client, "ic", "guess", address=ATTACKER).status_code in (400, 429)
    assert sign_in(client, "ic", PASSWORD, address=ATTACKER).status_code == 429
    # The owner, at their own address, signs in at once.
    assert sign_in(client, "ic", PASSWORD).status_code == 302
    client.logout()
    # At an address the username never signed in from, at most a short wait ("IC" is "ic").
    response = sign_in(client, "IC", PASSWORD, address="10.0.0.77")
    assert response.status_code == 429
    assert "Too many failed sign-ins for this username: wait 1 second" in response.text
    time.sleep(int(response["Retry-After"]) + 0.1)
    assert sign_in(client, "ic", PASSWORD, address="10.0.0.77").status_code == 302


def test_guesses_from_many_addresses_wait_longer_and_longer(client, people):
    for n in range(5):
        assert sign_in(client, "ic", "guess", address=f"198.51.100.{n}").status_code == 400
    response = sign_in(client, "ic", "guess", address="198.51.100.5")
    assert response.status_code == 429 and response["Retry-After"] == "1"
    time.sleep(1.1)
    assert sign_in(client, "ic", "guess", address="198.51.100.5").status_code == 400
    response = sign_in(client, "ic", "guess", address="198.51.100.6")
    assert response.status_code == 429 and response["Retry-After"] == "2"
    assert "Nothing was checked" in response.text


def test_the_delay_never_grows_past_its_cap(client, people, settings):
    settings.SIGNIN_MAX_DELAY_SECONDS = 1
    for n in range(8):
        time.sleep(1.05 if n > 4 else 0)
        assert sign_in(client, "ic", "guess", address=f"198.51.100.{n}").status_code == 400
    response = sign_in(client, "ic", "guess", address="198.51.100.99")
    assert response.status_code == 429 and response["Retry-After"] == "1"


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


def test_many_usernames_from_one_address_slow_the_address_down(client, people):
    assert sign_in(client, "avail", PASSWORD).status_code == 302  # known here
    client.logout()
    for n in range(20):
        assert sign_in(client, f"nobody{n}", "guess").status_code == 400
    response = sign_in(client, "ic", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-ins from your network address: wait 1 second" in response.text
    # A username that signed in from this address before is not slowed; nor is anyone else.
    assert sign_in(client, "avail", PASSWORD).status_code == 302
    client.logout()
    assert sign_in(client, "ic", PASSWORD, address="10.0.0.2").status_code == 302


def test_the_admin_sign_in_shares_the_lockout(client, people):
    for _ in range(3):
        assert sign_in(client, "admin", "guess", path="/admin/login/").status_code == 200
    for _ in range(2):
        sign_in(client, "admin", "guess")
    response = sign_in(client, "admin", PASSWORD, path="/admin/login/")
    assert "Too many failed sign-ins for this username from your network address" in (response.text)
    assert not signed_in(client)


def test_a_non_staff_account_at_the_admin_is_refused_without_counting(client, people):
    for _ in range(6):
        response = sign_in(client, "ic", PASSWORD, path="/admin/login/")
        assert "staff account" in response.text
    assert sign_in(client, "ic", PASSWORD).status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, people, settings):
    settings.SIGNIN_TRUST_X_FORWARDED_FOR = True
    proxy = "10.0.0.254"
    for n in range(20):  # a sprayer behind the proxy, at 203.0.113.7
        sign_in(
            client, f"nobody{n}", "guess", address=proxy,
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.7",
        )  # fmt: skip
    # Other clients behind the same proxy are not slowed down.
    assert sign_in(client, "ic", PASSWORD, address=proxy).status_code == 302
    client.logout()
    # What a client writes to the left of the proxy's entry does not help.
    response = sign_in(
        client, "avail", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7"
    )
    assert response.status_code == 429
    assert events()[0].data["ip"] == "203.0.113.7"
    # Two proxies of ours in a row: the first address left of them is the client.
    response = sign_in(
        client, "avail", PASSWORD, address=proxy,
        HTTP_X_FORWARDED_FOR="203.0.113.7, 192.168.1.1",
    )  # fmt: skip
    assert response.status_code == 429


def test_a_client_outside_our_proxies_cannot_choose_its_address(client, people, settings):
    """Forging X-Forwarded-For must not let anyone fill the owner's own address's count."""
    settings.SIGNIN_TRUST_X_FORWARDED_FOR = True
    for _ in range(10):
        sign_in(client, "ic", "guess", address=ATTACKER, HTTP_X_FORWARDED_FOR=OWNER)
    assert events()[0].data["ip"] == ATTACKER
    assert sign_in(client, "ic", PASSWORD, address=ATTACKER).status_code == 429
    response = sign_in(client, "ic", PASSWORD, address="10.0.0.254", HTTP_X_FORWARDED_FOR=OWNER)
    assert response.status_code in (302, 429) and "from your network address" not in (response.text)


def test_failed_attempts_are_audited_once_per_window_with_counts(client, people, settings):
    settings.SIGNIN_LOCKOUT_SECONDS = 2
    started = time.monotonic()
    for _ in range(100):  # 5 checked, 95 refused while locked
        sign_in(client, "ic", "guess")
    assert time.monotonic() - started < 2, "too slow to show one window"
    [first] = events()
    assert first.object_id == "ic" and first.actor == "system"
    assert first.data["ip"] == OWNER and first.data["bad_passwords"] == 1
    assert "guess" not in str(first.data)
    time.sleep(2.1)
    sign_in(client, "ic", "guess")  # a new window: its event counts what the last one did not
    [_, second] = events()
    assert (second.data["bad_passwords"], second.data["refused"]) == (5, 95)
    # Another address's failures have a slot of their own.
    sign_in(client, "ic", "guess", address="10.0.0.9")
    assert len(events()) == 3


def test_failures_before_a_sign_in_are_audited_with_it(client, people):
    for _ in range(3):
        sign_in(client, "ic", "guess")
    assert sign_in(client, "ic", PASSWORD).status_code == 302
    counts = [e.data["bad_passwords"] for e in events()]
    assert counts == [1, 2]  # the first at once, the other two before the sign-in's event
    assert events()[-1].seq < events("auth.signed_in")[0].seq


def test_the_step_up_lock_says_how_long_and_ends_with_a_fresh_sign_in(client, demo):
    from failover.models import Service
    from failover.services import declare_request
    from tests.factories import user

    request = declare_request(
        actor=user("ic"), service=Service.objects.get(slug="checkout"), target="failover",
        reason="eu-west-1 down",
    )  # fmt: skip
    assert sign_in(client, "identity", "demo").status_code == 302
    veto = {"kind": "veto", "comment": "tokens fail", "password": "wrong"}
    for _ in range(5):
        response = client.post(f"/requests/{request.pk}/", veto)
    assert response.status_code == 429
    assert "confirmation is now locked for 10 min (until " in response.text
    assert "sign out and sign in again" in response.text
    assert "an administrator can reset it with a second administrator" in response.text
    right = {**veto, "password": "demo"}
    assert client.post(f"/requests/{request.pk}/", right).status_code == 429
    client.post("/logout/")
    assert sign_in(client, "identity", "demo").status_code == 302
    assert client.post(f"/requests/{request.pk}/", right).status_code == 302
