"""Fixtures for the browser views: the demo data, signed-in test clients, and a real Chromium
(Debian's, driven by Playwright's sync API) with one browser context per person."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "demo"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


@pytest.fixture
def demo(db):
    from failover.demo import seed_demo

    seed_demo()


@pytest.fixture
def signed_in(client):
    """A Django test client signed in as a demo user."""
    from django.contrib.auth import get_user_model

    def sign_in(username: str):
        client.force_login(get_user_model().objects.get(username=username))
        return client

    return sign_in


# --- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser():
    """Chromium for the tests of this folder, closed when they are done.

    Playwright's sync API keeps an event loop in this thread while it runs, which trips
    Django's async-safety check on the tests' own (plain synchronous) ORM calls: allow them,
    for exactly as long as Playwright runs, so nothing after this folder inherits the switch
    (`check --deploy` rightly refuses it)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    saved = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()
    finally:
        if saved is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = saved


class Person:
    """One person at their own browser (a separate context: own cookies, own session)."""

    def __init__(self, browser, base_url: str, username: str, viewport: dict):
        self.username = username
        self.base_url = base_url
        self.context = browser.new_context(viewport=viewport, base_url=base_url)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page.on(
            "console",
            lambda msg: msg.type == "error" and self.console_errors.append(f"{msg.text}"),
        )
        self.page.on("pageerror", lambda exc: self.console_errors.append(f"pageerror: {exc}"))
        self.clicks = 0

    def sign_in(self) -> Person:
        self.page.goto("/login/")
        self.page.get_by_label("Username").fill(self.username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.click(self.page.get_by_role("button", name="Sign in"))
        self.page.wait_for_url(self.base_url + "/")
        return self

    def click(self, locator) -> None:
        self.clicks += 1
        locator.click()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def browsers(browser, live_server):
    """browsers("ic", "avail", viewport=PHONE) -> Person objects, closed after the test."""
    opened: list[Person] = []

    def open_people(*usernames, viewport=PHONE):
        found = [Person(browser, live_server.url, name, viewport).sign_in() for name in usernames]
        opened.extend(found)
        return found if len(found) > 1 else found[0]

    yield open_people
    for person in opened:
        person.close()


# --- axe-core, installed from npm into a temporary directory ------------------------------


@pytest.fixture(scope="session")
def axe_script(tmp_path_factory) -> Path:
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        pytest.skip("the accessibility check needs node and npm (apt-get install npm)")
    prefix = tmp_path_factory.mktemp("axe")
    result = subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "axe-core@4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    script = prefix / "node_modules" / "axe-core" / "axe.min.js"
    if result.returncode != 0 or not script.exists():
        pytest.skip(f"could not install axe-core from npm: {result.stderr[-500:]}")
    return script


def axe_violations(page, script: Path) -> list[dict]:
    """Serious and critical violations axe-core finds on the page as it is now."""
    # Evaluated, not added as an inline <script>: the site's CSP rightly refuses those.
    page.evaluate(script.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
