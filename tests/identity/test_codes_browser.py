"""Adding an authenticator app in Chromium: the QR code is drawn under the site's CSP (inline
SVG, no data: image), the typed key makes the codes an app would, and recovery codes follow."""

from __future__ import annotations

import base64
import time

import pytest
from django.contrib.auth import get_user_model
from django_otp.oath import TOTP

from identity import codes
from tests.harness.browser import PASSWORD, Person, axe_violations
from tests.web import conftest as web

axe_script = web.axe_script  # the accessibility check's fixture, shared with tests/web

pytestmark = pytest.mark.django_db(transaction=True)


def app_code(typed_key: str, steps: int = 0) -> str:
    """What an authenticator app shows for a key typed in by hand."""
    key = base64.b32decode(
        typed_key.replace(" ", "") + "=" * (-len(typed_key.replace(" ", "")) % 8)
    )
    totp = TOTP(key, 30, 0, 6, 0)
    totp.time = time.time() + steps * 30
    return f"{totp.token():06d}"


def test_adding_an_app_and_getting_recovery_codes_in_chromium(browser, live_server, axe_script):
    person = get_user_model().objects.create_user("casey", password=PASSWORD)
    casey = Person(browser, live_server.url, "casey", {"width": 1280, "height": 900}).sign_in()
    page = casey.page
    try:
        page.goto("/account/totp/")
        page.get_by_label("Name of the app or phone").fill("work phone")
        page.get_by_label("Your password").fill(PASSWORD)  # a way to confirm already: password
        casey.click(page.get_by_role("button", name="Continue: show the QR code"))
        qr = page.get_by_role("img", name="QR code to add this account to your authenticator app")
        box = qr.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100
        assert axe_violations(page, axe_script) == []
        key = page.get_by_label("Key, to type instead of scanning").input_value()
        page.get_by_label("The 6-digit code your app shows now").fill(app_code(key, -1))
        casey.click(page.get_by_role("button", name="Confirm and add the app"))
        assert page.get_by_text("Authenticator app work phone added.").is_visible()
        assert page.locator("[data-recovery-codes] li").count() == 10
        assert axe_violations(page, axe_script) == []
        assert codes.totp_available(person) and codes.recovery_left(person) == 10
        assert casey.console_errors == []  # a CSP refusal would show here
    finally:
        casey.close()
