"""A local password's owner changes it; where passwords are off or the person has none
(signed in by SSO), there is no such page."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEvent
from tests.factories import user

URL = "/account/password/"


@pytest.fixture
def alice(db):
    person = user("alice")
    person.set_password("demo")
    person.save()
    return person


def test_the_owner_changes_it_and_other_sessions_end(client, alice):
    elsewhere = Client()
    elsewhere.force_login(alice)
    client.force_login(alice)
    form = {"old_password": "demo", "new_password1": "a-long new one 42", "new_password2": ""}
    refused = client.post(URL, form)
    assert refused.status_code == 400
    form["new_password2"] = "a-long new one 42"
    done = client.post(URL, form)
    assert done.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a-long new one 42")
    assert AuditEvent.objects.filter(action="identity.password_changed", actor="alice").exists()
    assert "new one" not in str(AuditEvent.objects.values_list("data", flat=True))
    assert client.get("/").status_code == 200  # this session goes on
    assert elsewhere.get("/").status_code == 302  # the other is signed out


def test_a_wrong_old_password_changes_nothing(client, alice):
    client.force_login(alice)
    form = {
        "old_password": "nope",
        "new_password1": "x-long new 42",
        "new_password2": "x-long new 42",
    }
    assert client.post(URL, form).status_code == 400
    alice.refresh_from_db()
    assert alice.check_password("demo")


def test_no_page_without_local_passwords(client, alice, settings):
    client.force_login(alice)
    settings.LOCAL_PASSWORDS = False
    assert client.get(URL).status_code == 404


def test_no_page_for_someone_without_a_password(client, alice):
    alice.set_unusable_password()
    alice.save()
    client.force_login(alice)
    assert client.get(URL).status_code == 404
