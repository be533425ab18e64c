"""Debian's Chromium driven by Playwright's sync API, one set of flags for the browser tests
and the browser benchmarks (bench/drill.py, bench/sso_signin.py); a person at a browser of
their own; and the accessibility check."""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
# The demo people's password (failover/demo/data.py); a Person signs in with it. Kept here,
# not imported, so the benchmarks can use this module before Django is set up.
PASSWORD = "demo"
LIVE = 10_000  # ms: a poll every 2 s shows a change well within this
# The request's state on its page: the state line's first badge. A second one says what holds
# it ("Vetoed: nothing executes", "Blocked"), and a locator of both fails at once, not after
# its timeout (Playwright's strict mode): seen in CI as a page that "never showed Applied".
STATE_BADGE = "#request-status .state-line .badge:first-of-type"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


def available() -> bool:
    return Path(CHROMIUM).exists()


def launch(playwright):
    """Headless Chromium from a running `sync_playwright()`."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


@contextmanager
def chromium_beside_django() -> Iterator:
    """Chromium for tests that also use the ORM in this thread, closed at the end.

    Playwright's sync API keeps an event loop in this thread while it runs, which trips
    Django's async-safety check on the tests' own (plain synchronous) ORM calls: allow them,
    for exactly as long as Playwright runs, so nothing after inherits the switch (`check
    --deploy` rightly refuses it)."""
    from playwright.sync_api import sync_playwright

    saved = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            yield browser
            browser.close()
    finally:
        if saved is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = saved


# Each page of a Person notes, for a report when it stops updating: Chromium's page lifecycle
# events (a frozen page runs none of its timers) and any second-long interval that came late.
LIFECYCLE = """
(() => {
  const log = (window.__lifecycle = []);
  const t0 = Date.now();
  const note = (what) => {
    log.push(((Date.now() - t0) / 1000).toFixed(1) + "s " + what);
    if (log.length > 30) log.shift();
  };
  for (const name of ["freeze", "resume", "visibilitychange", "pageshow", "pagehide"]) {
    document.addEventListener(name, () => note(name + " " + document.visibilityState), true);
  }
  let last = Date.now();
  setInterval(() => {
    const now = Date.now();
    if (now - last > 2500) note("a 1 s interval ran " + (now - last) + " ms after the last");
    last = now;
    window.__lastTick = ((now - t0) / 1000).toFixed(1) + "s";
  }, 1000);
})();
"""


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
        # The page's last polls, for a report when a page stops updating: sent or not,
        # answered with what, when (seconds since this person opened their browser).
        self.polls: deque[str] = deque(maxlen=12)
        started = time.monotonic()
        self.page.on(
            "response",
            lambda r: (
                "/live" in r.url
                and self.polls.append(f"{time.monotonic() - started:.1f}s {r.status}")
            ),
        )
        self.context.add_init_script(LIFECYCLE)
        self.page.on(
            "requestfailed",
            lambda r: (
                "/live" in r.url
                and self.polls.append(f"{time.monotonic() - started:.1f}s failed {r.failure}")
            ),
        )

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


# A poll of the page that brings the actions part with nothing decided: it sends an old
# version of the actions, as a page would whose version of them went stale for any reason.
POLL_WITH_OLD_ACTIONS = """() => new Promise((done) => {
  const poller = document.querySelector("#request-live");
  const url = poller.getAttribute("hx-get").replace(/request-actions=\\w+/, "request-actions=old");
  document.addEventListener("htmx:afterSettle", () => done(), { once: true });
  htmx.ajax("GET", url, { source: poller, target: poller, swap: "outerHTML" });
})"""


def poll_with_old_actions(person) -> None:
    """Swap the request page's actions part in as a poll would, nothing decided."""
    with person.page.expect_response(re.compile(r"/requests/\d+/live/\?")) as answer:
        person.page.evaluate(POLL_WITH_OLD_ACTIONS)
    parts = re.findall(r'id="(request-\w+)"', answer.value.text())
    assert parts == ["request-live", "request-actions"], parts  # the actions, swapped


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
