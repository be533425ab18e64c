"""The tokens page (/account/tokens/) and `manage.py tokens` / `create_token`: a person lists,
mints, rotates, revokes and renews their own tokens; operators list, rotate and revoke."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from approvals.models import ApiToken, ServiceAccount
from approvals.tokens import create_token
from audit.models import AuditEvent
from tests.factories import user
from tests.tokens import DEMO_PASSWORD, personal_token

pytestmark = pytest.mark.django_db
PAGE = "/account/tokens/"


@pytest.fixture
def avail(people):
    person = people["avail"]
    person.set_password(DEMO_PASSWORD)
    person.save()
    return person


@pytest.fixture
def browser(avail):
    client = Client()
    client.force_login(avail)
    return client


def secret_in(response) -> str | None:
    found = re.search(r'id="new-secret" value="([^"]+)"', response.content.decode())
    return found.group(1) if found else None


def test_the_page_needs_a_sign_in(db):
    response = Client().get(PAGE)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_page_lists_only_my_tokens_with_how_long_they_live(browser, avail, people):
    mine, _ = personal_token(avail, name="laptop", actions=["read", "decide"])
    create_token(user=people["declarer"], name="someone-elses", actions=["read"])
    page = browser.get(PAGE).content.decode()
    assert "laptop" in page and mine.prefix in page and "someone-elses" not in page
    assert "decide, read" in page and "every service of yours" in page
    assert mine.expires_at.strftime("%Y-%m-%d %H:%M") in page
    assert "acts count until" in page
    # The mint form asks for a step-up the passkey button can join.
    assert 'data-step-up data-step-up-act="mint_token"' in page
    assert f'data-step-up-target="user:{avail.pk}"' in page
    assert 'name="password"' in page and 'name="totp"' not in page


def test_minting_shows_the_secret_once(browser, avail):
    form = {"name": "reader", "actions": ["read"], "lifetime_hours": "48"}
    response = browser.post(PAGE, form)
    assert response.status_code == 200
    plain = secret_in(response)
    token = ApiToken.objects.get(user=avail, name="reader")
    assert plain and plain.startswith(f"fa_{token.prefix}_")
    assert token.actions == ["read"] and token.stepped_up_at is None
    assert secret_in(browser.get(PAGE)) is None
    api = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert api.get("/api/v1/tokens/current/").json()["name"] == "reader"


def test_an_acting_token_needs_a_step_up_on_the_page(browser, avail):
    form = {"name": "approver", "actions": ["read", "decide"], "lifetime_hours": "8"}
    refused = browser.post(PAGE, form)
    assert refused.status_code == 400
    assert "confirm it is you with password" in refused.content.decode()
    assert not ApiToken.objects.exists()
    wrong = browser.post(PAGE, {**form, "password": "not it"})
    assert wrong.status_code == 400 and "not your password" in wrong.content.decode()
    done = browser.post(PAGE, {**form, "password": DEMO_PASSWORD})
    assert done.status_code == 200 and secret_in(done)
    token = ApiToken.objects.get(name="approver")
    assert token.created_by == avail and token.stepped_up_at is not None


def test_a_lifetime_past_the_maximum_is_refused(browser, avail):
    form = {"name": "long", "actions": ["execute"], "lifetime_hours": "13"}
    refused = browser.post(PAGE, {**form, "password": DEMO_PASSWORD})
    assert refused.status_code == 400 and "lives at most 12 h" in refused.content.decode()
    assert not ApiToken.objects.exists()


def test_rotate_on_the_page(browser, avail):
    token, old = personal_token(avail, name="approver", actions=["decide"])
    url = f"{PAGE}{token.prefix}/rotate/"
    refused = browser.post(url)
    assert refused.status_code == 400 and secret_in(refused) is None
    done = browser.post(url, {"password": DEMO_PASSWORD})
    assert done.status_code == 200
    plain = secret_in(done)
    new = ApiToken.objects.get(rotated_from=token)
    token.refresh_from_db()
    assert token.revoked_at is not None and new.actions == ["decide"]
    assert plain.startswith(f"fa_{new.prefix}_")
    assert (
        Client(HTTP_AUTHORIZATION=f"Bearer {old}").get("/api/v1/tokens/current/").status_code == 401
    )


def test_revoke_on_the_page_and_not_someone_elses(browser, avail, people):
    token, _ = personal_token(avail, actions=["read"])
    theirs, _ = create_token(user=people["declarer"], name="theirs", actions=["read"])
    assert browser.post(f"{PAGE}{theirs.prefix}/revoke/").status_code == 404
    assert browser.post(f"{PAGE}{token.prefix}/revoke/").status_code == 302
    token.refresh_from_db()
    theirs.refresh_from_db()
    assert token.revoked_at is not None and theirs.revoked_at is None
    assert AuditEvent.objects.filter(action="token.revoked", actor=avail).exists()
    assert browser.get(f"{PAGE}{token.prefix}/revoke/").status_code == 405


def test_renew_step_up_on_the_page(browser, avail):
    token, _ = personal_token(avail, actions=["decide"])
    ApiToken.objects.filter(pk=token.pk).update(stepped_up_at=None)
    page = browser.get(PAGE).content.decode()
    assert f'data-step-up-act="renew_token" data-step-up-target="token:{token.prefix}"' in page
    url = f"{PAGE}{token.prefix}/step-up/"
    assert browser.post(url, {"password": "nope"}).status_code == 400
    assert browser.post(url, {"password": DEMO_PASSWORD}).status_code == 302
    token.refresh_from_db()
    assert token.stepped_up_at is not None


def test_the_page_offers_an_authenticator_code_where_the_person_has_one(browser, avail, settings):
    TOTPDevice.objects.create(user=avail, name="phone", confirmed=True)
    settings.STEP_UP_METHODS = ["passkey", "totp"]
    page = browser.get(PAGE).content.decode()
    assert 'name="totp"' in page and 'name="password"' not in page


def test_the_page_posts_need_csrf(avail):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(avail)
    response = strict.post(PAGE, {"name": "x", "actions": ["read"], "lifetime_hours": "1"})
    assert response.status_code == 403 and not ApiToken.objects.exists()


# --- the command line -------------------------------------------------------------------


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_token_mints_reading_and_declaring_tokens_only(people):
    with pytest.raises(CommandError, match=r"personal.*/account/tokens/"):
        run("create_token", "avail", "--action", "decide")
    with pytest.raises(CommandError, match="personal"):
        run("create_token", "avail", "--action", "read", "--action", "execute")
    plain, _ = run("create_token", "declarer", "--name", "ci")
    token = ApiToken.objects.get(name="ci")
    assert plain.strip().startswith(f"fa_{token.prefix}_") and token.actions == ["declare", "read"]
    bot = user("pager-bot")
    ServiceAccount.objects.create(user=bot)
    run("create_token", "pager-bot", "--action", "audit")
    assert ApiToken.objects.get(user=bot).actions == ["audit"]


def test_tokens_list_rotate_revoke(people, service):
    mine, _ = personal_token(people["avail"], name="approver", actions=["decide"])
    ci, _ = create_token(user=people["declarer"], name="ci", actions=["read"], services=[service])
    listing, _ = run("tokens", "list")
    assert mine.prefix in listing and ci.prefix in listing and "stepped up" in listing
    only, _ = run("tokens", "list", "--user", "declarer")
    assert ci.prefix in only and mine.prefix not in only
    with pytest.raises(CommandError, match="only avail rotates it"):
        run("tokens", "rotate", mine.prefix)
    plain, _ = run("tokens", "rotate", ci.prefix)
    new = ApiToken.objects.get(rotated_from=ci)
    assert plain.strip().startswith(f"fa_{new.prefix}_")
    assert list(new.services.all()) == [service]
    run("tokens", "revoke", mine.prefix)
    mine.refresh_from_db()
    assert mine.revoked_at is not None
    assert mine.prefix not in run("tokens", "list")[0]
    assert mine.prefix in run("tokens", "list", "--all")[0]
    with pytest.raises(CommandError, match="no token"):
        run("tokens", "revoke", "nope")
