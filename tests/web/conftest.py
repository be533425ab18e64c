"""Fixtures for the browser views: the demo data, signed-in test clients, and a real Chromium
(tests/harness/browser.py) with one browser context per person."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.browser import PHONE, Person, available, chromium_beside_django


@pytest.fixture
def demo(db):
    from failover.demo.seed import seed_demo

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
    """Chromium for the tests of this folder, closed when they are done."""
    if not available():
        pytest.skip("needs Debian's chromium: apt-get install chromium")
    with chromium_beside_django() as browser:
        yield browser


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
