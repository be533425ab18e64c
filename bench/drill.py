"""Drill: the dual-approval failover played in a browser, as the people would play it.

    .venv/bin/python bench/drill.py [--desktop] [--veto]

Starts its own server (runserver + a Celery worker on a throwaway SQLite database, the
filesystem broker and zone files, all in a temporary directory), seeds the demo, then drives
Debian's Chromium (one browser context per person, phone width by default): `ic` declares a
`checkout` failover; `avail` approves; (with --veto: `identity` vetoes, then lifts it;)
`identity` approves; `ir` signs off; the policy executes on that last sign-off and the drill
waits until `ic`'s page, never reloaded, shows it applied. Each person starts on the request
page, as a notification link would open it. Prints clicks, typed fields and seconds per
human step: the governance cost the humans pay.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.browser import PASSWORD, available, launch  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402

PYTHON = sys.executable


class Server:
    """runserver and a Celery worker against a database and broker of the drill's own."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DEBUG": "true",
            "DJANGO_SETTINGS_MODULE": "failover.settings",
            "FAILOVER_VAR_DIR": str(workdir / "var"),
            "DATABASE_URL": f"sqlite:///{workdir / 'drill.sqlite3'}",
            "CELERY_BROKER_URL": "filesystem://localhost/",
            "DNS_ZONE_DIR": str(workdir / "var" / "zones"),
            "LOG_LEVEL": "WARNING",
            # The demo's targets are local TLS servers the readiness checks reach on loopback.
            "OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",
        }
        self.processes: list[subprocess.Popen] = []

    def manage(self, *args: str) -> None:
        subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, check=True)

    def start(self) -> Server:
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("seed_demo")
        # As bin/run-local: the demo targets (and the CA their checks pin) answer the readiness
        # checks, without which no request may execute.
        self.env["READINESS_CA_BUNDLES"] = subprocess.run(
            [PYTHON, "manage.py", "serve_demo_targets", "--bundles"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        log = open(self.workdir / "server.log", "w")  # noqa: SIM115 (kept open for the children)
        self.processes.append(
            subprocess.Popen(
                [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        self.processes.append(
            subprocess.Popen(
                [PYTHON, "manage.py", "serve_demo_targets"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        self.processes.append(
            subprocess.Popen(
                [
                    *(PYTHON, "-m", "celery", "-A", "failover", "worker"),
                    *("-Q", "critical,celery,intake,readiness", "--pool=threads"),
                    "--concurrency=2",
                    *("--without-gossip", "--without-mingle", "--without-heartbeat"),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1)
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the server did not come up; see " + str(self.workdir / "server.log"))

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


class Person:
    def __init__(self, browser, base_url: str, username: str, viewport: dict):
        self.username = username
        self.context = browser.new_context(viewport=viewport, base_url=base_url)
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        self.clicks = 0
        self.fields = 0

    def click(self, locator) -> None:
        self.clicks += 1
        locator.click()

    def fill(self, locator, value: str) -> None:
        self.fields += 1
        locator.fill(value)

    def sign_in(self) -> None:
        self.page.goto("/login/")
        self.fill(self.page.get_by_label("Username"), self.username)
        self.fill(self.page.get_by_label("Password"), PASSWORD)
        self.click(self.page.get_by_role("button", name="Sign in"))
        self.page.wait_for_url(re.compile(r"/$"))

    def act(self, action: str, button: str, *, password=False, reason="") -> None:
        """Open one action on the request page and confirm it."""
        self.click(self.page.locator("summary", has_text=action))
        form = self.page.locator("details.action[open] form")
        if reason:
            self.fill(form.get_by_label("Reason"), reason)
        if password:
            self.fill(form.get_by_label("Your password"), PASSWORD)
        self.click(form.get_by_role("button", name=button))
        self.page.locator(".message.success").wait_for()


class Steps:
    def __init__(self):
        self.rows: list[tuple[str, str, int, int, float]] = []

    def run(self, who: Person, what: str, play) -> None:
        clicks, fields, started = who.clicks, who.fields, time.monotonic()
        play()
        self.rows.append(
            (
                who.username,
                what,
                who.clicks - clicks,
                who.fields - fields,
                time.monotonic() - started,
            )
        )

    def print(self) -> None:
        print(f"{'person':<10} {'step':<42} {'clicks':>6} {'fields':>6} {'seconds':>8}")
        for username, what, clicks, fields, seconds in self.rows:
            print(f"{username:<10} {what:<42} {clicks:>6} {fields:>6} {seconds:>8.2f}")
        human = [r for r in self.rows if r[0] != "system" and r[1] != "sign in"]
        print(
            f"\nAfter sign-in, {len(human)} human steps: {sum(r[2] for r in human)} clicks, "
            f"{sum(r[3] for r in human)} typed fields, {sum(r[4] for r in human):.1f} s of "
            "browser time (human reading and thinking time not included)"
        )


def drill(base_url: str, *, viewport: dict, veto: bool) -> Steps:
    from playwright.sync_api import sync_playwright

    steps = Steps()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        people = {
            name: Person(browser, base_url, name, viewport)
            for name in ("ic", "avail", "identity", "ir")
        }
        for person in people.values():
            steps.run(person, "sign in", person.sign_in)
        ic, avail, identity, ir = people.values()

        def declare():
            ic.click(ic.page.get_by_role("link", name="Declare a failover"))
            ic.fields += 1
            ic.page.get_by_label("Fail over to").select_option("checkout/failover")
            ic.page.locator("#plan-preview ul.diff").wait_for()  # the plan, before submitting
            ic.fill(ic.page.get_by_label("Reason"), "eu-west-1 load balancers failing")
            ic.fill(ic.page.get_by_label("Incident reference"), "INC-DRILL")
            ic.click(ic.page.get_by_role("button", name="Declare failover"))
            ic.page.wait_for_url(re.compile(r"/requests/\d+/$"))

        steps.run(ic, "declare checkout → failover", declare)
        request_url = ic.page.url
        for person in (avail, identity, ir):
            person.page.goto(request_url)  # where a notification link lands

        steps.run(
            avail,
            "approve as availability (password)",
            lambda: avail.act("Approve as availability", "Confirm approval", password=True),
        )
        if veto:
            steps.run(
                identity,
                "veto with a reason (password)",
                lambda: identity.act(
                    "Veto", "Confirm veto", password=True, reason="token exchange failing"
                ),
            )
            steps.run(
                identity,
                "lift the veto",
                lambda: identity.act("Lift my veto", "Confirm lifting the veto", password=True),
            )
        steps.run(
            identity,
            "approve as identity (password)",
            lambda: identity.act("Approve as identity", "Confirm approval", password=True),
        )
        ir.page.locator("summary", has_text="Sign off for incident response").wait_for()
        steps.run(
            ir,
            "sign off for incident response",
            lambda: ir.act("Sign off for incident response", "Confirm sign-off", password=True),
        )
        started = time.monotonic()
        ic.page.locator("#request-status .badge", has_text="Applied").wait_for(timeout=60_000)
        steps.rows.append(
            ("system", "applied, seen on ic's open page", 0, 0, time.monotonic() - started)
        )
        browser.close()
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--desktop", action="store_true", help="1280 px wide instead of 375")
    parser.add_argument("--veto", action="store_true", help="identity vetoes, then lifts it")
    args = parser.parse_args()
    if not available():
        sys.exit("needs Debian's chromium: apt-get install chromium")
    viewport = {"width": 1280, "height": 900} if args.desktop else {"width": 375, "height": 812}
    with tempfile.TemporaryDirectory(prefix="failover-drill-") as tmp:
        server = Server(Path(tmp)).start()
        try:
            steps = drill(server.url, viewport=viewport, veto=args.veto)
        finally:
            server.stop()
    print(f"\nDual-approval drill at {viewport['width']} px against {server.url}\n")
    steps.print()


if __name__ == "__main__":
    main()
