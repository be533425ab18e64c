"""Drill: the dual-approval failover played in a browser, as the people would play it.

    .venv/bin/python bench/drill.py [--desktop] [--veto] [--rehearse] [--timeout 240]
                                    [--workdir DIR]

Starts what `make run` starts (bench/make_run.py: web, worker, beat, the demo's TLS targets
and identity provider, devidp) in a directory of its own, waits until /readyz vouches for beat
and a worker on every routed queue, then drives Debian's Chromium (one browser context per
person, phone width by default): `ic` declares a `checkout` failover; `avail` approves; (with
--veto: `identity` vetoes, then lifts it;) `identity` approves; `ir` signs off; the policy
executes on that last sign-off, once the readiness checks have passed against the demo
targets, and the drill waits until `ic`'s page, never reloaded, shows it applied. Each person
starts on the request page, as a notification link would open it. Prints clicks, typed fields
and seconds per human step: the governance cost the humans pay. With --rehearse `ic` chooses
"Rehearse (drill)": the same people and steps, on checkout's drill record, which the drill puts
back before it closes (the page, never reloaded, shows Closed).

A step that cannot complete ends the drill with exit code 1 and a message naming the step and
what the page showed. Every wait takes its share of --timeout, so the drill ends within it plus
the few seconds stopping the processes takes; should a wait hang regardless, a watchdog ends
everything 30 s past it (exit code 3). tests/web/test_drill_bench.py runs the drill, so it
cannot rot unseen again (it did: from the readiness gate on, its server served no demo
targets and the request waited on readiness checks forever).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.make_run import MakeRun, NotReady  # noqa: E402
from tests.harness.browser import DESKTOP, PASSWORD, PHONE, available, launch  # noqa: E402

APPLIED = "Applied"
CLOSED = "Closed"  # a drill: its drill records put back
STEP_SECONDS = 30  # one person's step; the Applied wait gets twice that
READY_SECONDS = 90  # `make run` from nothing to /readyz "ok" (migrations included)


class DrillFailed(Exception):
    """A step did not complete: the message names it and what the page showed."""


class Budget:
    """The drill's one deadline; every wait takes the smaller of its own limit and what is
    left, so a drill that goes wrong ends in bounded time whichever step it is in."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self, cap: float) -> float:
        return max(0.0, min(cap, self.deadline - time.monotonic()))

    def ms(self, cap: float) -> float:
        return self.left(cap) * 1000


class Person:
    def __init__(self, browser: Browser, base_url: str, username: str, viewport: dict):
        self.username = username
        self.context = browser.new_context(
            viewport={"width": viewport["width"], "height": viewport["height"]}, base_url=base_url
        )
        self.page = self.context.new_page()
        self.clicks = 0
        self.fields = 0

    def click(self, locator: Locator) -> None:
        self.clicks += 1
        locator.click()

    def fill(self, locator: Locator, value: str) -> None:
        self.fields += 1
        locator.fill(value)

    def sign_in(self) -> None:
        self.page.goto("/login/")
        self.fill(self.page.get_by_label("Username"), self.username)
        self.fill(self.page.get_by_label("Password"), PASSWORD)
        self.click(self.page.get_by_role("button", name="Sign in"))
        self.page.wait_for_url(re.compile(r"/$"))

    def act(self, action: str, button: str, *, password: bool = False, reason: str = "") -> None:
        """Open one action on the request page and confirm it."""
        self.click(self.page.locator("summary", has_text=action))
        form = self.page.locator("details.action[open] form")
        if reason:
            self.fill(form.get_by_label("Reason"), reason)
        if password:
            self.fill(form.get_by_label("Your password"), PASSWORD)
        self.click(form.get_by_role("button", name=button))
        self.page.locator(".message.success").wait_for()

    def showed(self) -> str:
        """What this person's page shows now: its address, messages and the request's status
        (or the page's main text), squeezed onto a few lines."""
        from playwright.sync_api import Error as PlaywrightError

        page = self.page
        parts = [page.url]
        try:
            parts += [f"message: {text}" for text in page.locator(".message").all_inner_texts()]
            # A form sent back with an error says so inside the form, not as a message.
            errors = page.locator("details.action .errorlist").all_inner_texts()
            parts += [f"form error: {text}" for text in errors]
            status = page.locator("#request-status")
            region = status if status.count() else page.locator("main")
            parts.append(region.first.inner_text(timeout=2000))
        except PlaywrightError as exc:  # a page that cannot be read is itself the answer
            parts.append(f"(the page could not be read: {exc.__class__.__name__})")
        text = " | ".join(" ".join(part.split()) for part in parts)
        return text if len(text) <= 900 else text[:900] + " …"


class Steps:
    def __init__(self, budget: Budget):
        self.budget = budget
        self.rows: list[tuple[str, str, int, int, float]] = []
        self.current = "starting"
        self.timings: dict[str, float] = {}
        self.measured = ""  # a rehearsal: what the service page says of it

    def run(
        self,
        who: Person,
        what: str,
        play: Callable[[], object],
        *,
        limit: float = STEP_SECONDS,
        row: str | None = "",
    ) -> None:
        """Play one step within the budget. `row`: the table's "person" column ("" = who,
        None = not a row of the table: moving to where the step starts)."""
        from playwright.sync_api import Error as PlaywrightError

        self.current = f"{who.username}: {what}"
        if not self.budget.left(limit):
            raise DrillFailed(f"step '{what}' ({who.username}) not started: out of time")
        who.context.set_default_timeout(self.budget.ms(limit))
        clicks, fields, started = who.clicks, who.fields, time.monotonic()
        try:
            play()
        except PlaywrightError as exc:
            waited = time.monotonic() - started
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DrillFailed(
                f"step '{what}' ({who.username}) did not complete in {waited:.0f} s: {first}\n"
                f"  {who.username}'s page showed: {who.showed()}"
            ) from exc
        if row is not None:
            seconds = time.monotonic() - started
            clicks, fields = who.clicks - clicks, who.fields - fields
            self.rows.append((row or who.username, what, clicks, fields, seconds))

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


def drill(
    steps: Steps, server: MakeRun, *, viewport: dict, veto: bool, rehearse: bool = False
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # The browsers open while `make run` starts; the people start once it is ready.
        browser = launch(playwright)
        people = {
            name: Person(browser, server.url, name, viewport)
            for name in ("ic", "avail", "identity", "ir")
        }
        steps.current = "make run"
        steps.timings["make run ready"] = server.wait_ready(steps.budget.left(READY_SECONDS))
        for person in people.values():
            steps.run(person, "sign in", person.sign_in)
        ic, avail, identity, ir = people.values()

        def declare() -> None:
            ic.click(ic.page.get_by_role("link", name="Declare a failover"))
            ic.fields += 1
            ic.page.get_by_label("Fail over to").select_option("checkout/failover")
            ic.page.locator("#plan-preview ul.diff").wait_for()  # the plan, before submitting
            ic.fill(ic.page.get_by_label("Reason"), "eu-west-1 load balancers failing")
            ic.fill(ic.page.get_by_label("Incident reference"), "INC-DRILL")
            button = "Rehearse (drill)" if rehearse else "Declare failover"
            ic.click(ic.page.get_by_role("button", name=button))
            ic.page.wait_for_url(re.compile(r"/requests/\d+/$"))

        what = "rehearse" if rehearse else "declare"
        steps.run(ic, f"{what} checkout → failover", declare)
        request_url = ic.page.url
        for person in (avail, identity, ir):
            # Where a notification link lands; not a step of theirs.
            steps.run(person, "open the request", partial(person.page.goto, request_url), row=None)

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
        sign_off = "Sign off for incident response"
        # ir's page offers the sign-off once it has polled the approvals in (not ir's time).
        steps.run(
            ir,
            "wait for the sign-off",
            ir.page.locator("summary", has_text=sign_off).wait_for,
            row=None,
        )
        steps.run(
            ir,
            "sign off for incident response",
            lambda: ir.act(sign_off, "Confirm sign-off", password=True),
        )
        # Executing waits for the readiness checks (the demo targets answer them) and the DNS
        # change; ic's page, never reloaded, must say so by itself. A rehearsal then puts the
        # drill records back and closes.
        end = CLOSED if rehearse else APPLIED
        steps.run(
            ic,
            f"{end.lower()}, seen on ic's open page",
            lambda: ic.page.locator("#request-status .badge", has_text=end).wait_for(),
            limit=2 * STEP_SECONDS,
            row="system",
        )
        if rehearse:
            # How fast each team decided, as the service page shows it (approvals/timings.py).
            ic.page.goto("/services/checkout/")
            section = ic.page.locator("section[aria-labelledby=drills-heading] dl.facts")
            steps.measured = section.inner_text(timeout=5000)
        browser.close()


def watchdog(budget: Budget, steps: Steps, server: MakeRun) -> threading.Timer:
    """The last resort, should a wait ignore its timeout: past the budget and a grace period,
    stop the server's processes and leave with exit code 3."""

    def give_up() -> None:
        print(
            f"drill: gave up after {budget.seconds + 30:.0f} s (hard limit) during "
            f"'{steps.current}'",
            file=sys.stderr,
            flush=True,
        )
        server.kill()
        os._exit(3)

    timer = threading.Timer(budget.seconds + 30, give_up)
    timer.daemon = True
    timer.start()
    return timer


def play(workdir: Path, args: argparse.Namespace) -> tuple[Steps, str]:
    budget = Budget(args.timeout)
    steps = Steps(budget)
    server = MakeRun(workdir)
    timer = watchdog(budget, steps, server)
    try:
        steps.current = "make run"
        server.start(wait=budget.left(READY_SECONDS))
        if server.waited >= 1:
            steps.timings["waited for another drill"] = server.waited
        viewport = DESKTOP if args.desktop else PHONE
        drill(steps, server, viewport=viewport, veto=args.veto, rehearse=args.rehearse)
    except NotReady as exc:
        raise DrillFailed(f"step 'make run': {exc}") from exc
    except DrillFailed as exc:
        steps.print()
        raise DrillFailed(f"{exc}\n  `make run`'s output ends:\n{server.tail(8)}") from exc
    finally:
        stopping = time.monotonic()
        server.stop(grace=5)  # the worker's warm shutdown takes about 5 s
        steps.timings["make run stopped"] = time.monotonic() - stopping
        timer.cancel()
    return steps, server.url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--desktop", action="store_true", help="1280 px wide instead of 375")
    parser.add_argument("--veto", action="store_true", help="identity vetoes, then lifts it")
    parser.add_argument(
        "--rehearse",
        action="store_true",
        help="declare it as a drill (Rehearse): the drill records move and come back",
    )
    parser.add_argument(
        "--timeout", type=float, default=240, help="seconds the drill may take (240)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep the database and logs here (default: a temporary one)"
    )
    args = parser.parse_args()
    if not available():
        sys.exit("needs Debian's chromium: apt-get install chromium")
    viewport = DESKTOP if args.desktop else PHONE
    started = time.monotonic()
    try:
        if args.workdir:
            args.workdir.mkdir(parents=True, exist_ok=True)
            steps, url = play(args.workdir, args)
        else:
            with tempfile.TemporaryDirectory(prefix="failover-drill-") as tmp:
                steps, url = play(Path(tmp), args)
    except DrillFailed as exc:
        print(f"\ndrill FAILED after {time.monotonic() - started:.0f} s: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"\nDual-approval drill at {viewport['width']} px against {url}\n")
    steps.print()
    took = ", ".join(f"{what} in {seconds:.1f} s" for what, seconds in steps.timings.items())
    end = CLOSED if args.rehearse else APPLIED
    if steps.measured:
        lines = [line for line in steps.measured.splitlines() if line.strip()]
        pairs = [f"{a}: {b}" for a, b in zip(lines[::2], lines[1::2], strict=False)]
        print("\nThe service page on this drill (from its declaration):\n  " + "\n  ".join(pairs))
    print(
        f"\n{end} on ic's page; the drill took {time.monotonic() - started:.1f} s in all ({took})."
    )


if __name__ == "__main__":
    main()
