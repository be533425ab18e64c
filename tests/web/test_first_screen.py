"""Issue 17, "the first screen decides", in a real Chromium: at 375 x 667 (a phone) and
1280 x 800 the first viewport of the request page holds the state, what is still needed and by
whom, and the viewer's own next act; the dashboard puts "Waiting for you" first; the report
reads on a phone; controls and flash messages that no longer apply go with the live update;
and a page whose live updates stop says so within 5 s, then recovers by itself."""

from __future__ import annotations

import os
import re

import pytest

from approvals.breakglass import break_glass
from approvals.readiness.checks.base import CheckResult
from approvals.readiness.services import store_results
from tests.harness.browser import LIVE, STATE_BADGE
from tests.web.first_screen_world import (
    DESKTOP_SCREEN,
    PHONE_SCREEN,
    applied,
    declared_and_checked,
    finish,
    person,
)

pytestmark = pytest.mark.django_db(transaction=True)

SAID_WITHIN = 5_000  # ms: live updates stopped, said within 5 s


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def in_first_screen(page, locator) -> None:
    """The element is wholly inside the viewport of a page scrolled to its top."""
    page.evaluate("window.scrollTo(0, 0)")
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    height = page.viewport_size["height"]
    assert box is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (
        f"{locator} spans {box['y']:.0f}..{box['y'] + box['height']:.0f} px, "
        f"the first screen is {height} px"
    )


def summary(page, name: str):
    return page.locator("summary", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))


@pytest.mark.parametrize("screen", [PHONE_SCREEN, DESKTOP_SCREEN], ids=["phone", "desktop"])
def test_the_approvers_first_screen_holds_state_needs_and_their_act(demo, browsers, screen):
    request = declared_and_checked()
    avail = browsers("avail", viewport=screen)
    avail.page.goto(f"/requests/{request.pk}/")
    page = avail.page
    in_first_screen(page, page.locator("#request-status .state-line"))
    expect(page.locator("#request-status .state-line")).to_contain_text("Pending approval")
    needed = page.locator("#request-status .still-needed")
    expect(needed).to_contain_text("identity approval (0 of 1) — can give it: identity")
    in_first_screen(page, needed)
    in_first_screen(page, summary(page, "Approve as availability"))
    # The readiness that passed is one line up there; its evidence waits, closed, below.
    expect(page.locator("#request-status")).to_contain_text("all 4 checks passed")
    assert page.locator("#request-record .check details[open]").count() == 0
    assert page.locator("#request-record .check details").count() == 4
    assert page.evaluate("document.documentElement.scrollWidth") <= screen["width"]


def test_the_commanders_first_screen_holds_their_acts(demo, browsers):
    request = declared_and_checked()
    ic = browsers("ic", viewport=PHONE_SCREEN)
    ic.page.goto(f"/requests/{request.pk}/")
    in_first_screen(ic.page, ic.page.locator("#request-status .still-needed"))
    in_first_screen(ic.page, summary(ic.page, "Cancel request"))
    in_first_screen(ic.page, ic.page.get_by_role("link", name="Break glass"))


def test_a_failed_check_stays_open_and_is_named_up_top(demo, browsers):
    request = declared_and_checked()
    store_results(
        request,
        request.to_target,
        [CheckResult("tls", False, "certificate expired yesterday", {"hostnames": []})],
    )
    identity = browsers("identity", viewport=PHONE_SCREEN)
    identity.page.goto(f"/requests/{request.pk}/")
    failed = identity.page.locator("#request-status .check-line.failed")
    expect(failed).to_contain_text("certificate expired yesterday")
    in_first_screen(identity.page, failed)
    expect(identity.page.locator("#check-tls details")).to_have_attribute("open", "")
    # The other checks passed: closed.
    assert identity.page.locator("#check-health details[open]").count() == 0


def test_after_applied_the_old_flash_and_break_glass_go_with_the_update(demo, browsers):
    ic = browsers("ic", viewport=PHONE_SCREEN)
    ic.page.goto("/declare/?service=checkout")
    ic.page.get_by_label("Reason").fill("eu-west-1 load balancers failing")
    ic.click(ic.page.get_by_role("button", name="Declare failover"))
    ic.page.wait_for_url(re.compile(r"/requests/\d+/$"))
    flash = ic.page.locator(".messages .message")
    expect(flash).to_contain_text(re.compile(r"Failover #\d+ declared"))
    break_glass = ic.page.get_by_role("link", name="Break glass")
    expect(break_glass).to_be_visible()

    finish()  # approved by everyone, executed, the DNS change applied: no reload here
    expect(ic.page.locator(STATE_BADGE)).to_have_text("Applied", timeout=LIVE)
    expect(flash).to_have_count(0)
    expect(break_glass).to_have_count(0)
    expect(ic.page.locator("#request-actions")).to_contain_text("Nothing for you to do")


def test_a_flash_message_can_be_dismissed(demo, browsers):
    ic = browsers("ic", viewport=PHONE_SCREEN)
    ic.page.goto("/declare/?service=checkout")
    ic.page.get_by_label("Reason").fill("eu down")
    ic.click(ic.page.get_by_role("button", name="Declare failover"))
    ic.page.wait_for_url(re.compile(r"/requests/\d+/$"))
    ic.click(ic.page.get_by_role("button", name="Dismiss this message"))
    expect(ic.page.locator(".messages")).to_have_count(0)


def test_the_executor_sees_applied_and_roll_back_first_and_no_nothing_to_do(demo, browsers):
    request = applied()
    for screen in (PHONE_SCREEN, DESKTOP_SCREEN):
        executor = browsers("executor", viewport=screen)
        executor.page.goto(f"/requests/{request.pk}/")
        in_first_screen(executor.page, executor.page.locator("#request-status .good"))
        in_first_screen(executor.page, summary(executor.page, "Roll back"))
        assert "Nothing for you to do" not in executor.page.locator("main").inner_text()


def test_live_updates_that_stop_are_said_within_5_s_and_recover(demo, browsers):
    request = declared_and_checked()
    avail = browsers("avail", viewport=PHONE_SCREEN)
    page = avail.page
    page.goto(f"/requests/{request.pk}/")
    status = page.locator("[data-live-status]")
    expect(status).to_contain_text(re.compile(r"Live: updated \d\d:\d\d:\d\d UTC"), timeout=LIVE)
    in_first_screen(page, status)

    # Offline: said within 5 s, with the time of the last update.
    avail.context.set_offline(True)
    expect(status).to_contain_text("Live updates stopped", timeout=SAID_WITHIN)
    expect(status).to_contain_text(re.compile(r"Last updated \d\d:\d\d:\d\d UTC"))
    expect(status).to_have_attribute("role", "alert")
    if os.environ.get("MEASURE_TO"):  # tests/web/test_screens_measure.py's folder
        page.screenshot(path=f"{os.environ['MEASURE_TO']}/request-live-stopped-first.png")
    avail.context.set_offline(False)
    expect(status).not_to_contain_text("stopped", timeout=LIVE)

    # The server answers 503 (down behind its proxy): the same, and back by itself.
    page.route("**/live/**", lambda route: route.fulfill(status=503, body="down"))
    expect(status).to_contain_text("Live updates stopped", timeout=SAID_WITHIN)
    page.unroute("**/live/**")
    expect(status).not_to_contain_text("stopped", timeout=LIVE)
    expect(status).to_contain_text("Live: updated")


def test_the_dashboard_puts_waiting_for_you_first(demo, browsers):
    request = declared_and_checked()
    avail = browsers("avail", viewport=PHONE_SCREEN)
    waiting = avail.page.locator("#pending-heading")
    link = avail.page.get_by_role("link", name=re.compile("Approve as availability"))
    expect(link).to_contain_text(f"#{request.pk}", timeout=LIVE)
    in_first_screen(avail.page, waiting)
    in_first_screen(avail.page, link)
    services = avail.page.locator("#services-heading").bounding_box()
    assert services and waiting.bounding_box()["y"] < services["y"]


def test_the_report_reads_on_a_phone(demo, browsers):
    request = applied()
    auditor = browsers("ic", viewport=PHONE_SCREEN)
    page = auditor.page
    page.goto(f"/requests/{request.pk}/report/")
    # No sideways scroll: neither the page nor any box inside it.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SCREEN["width"]
    wider = page.evaluate(
        """() => [...document.querySelectorAll('main *')]
             .filter(e => e.scrollWidth > e.clientWidth + 1 &&
                          getComputedStyle(e).overflowX !== 'visible')
             .map(e => e.tagName + '.' + e.className)"""
    )
    assert wider == []
    # Sections start closed but the summary; the page is a few screens, not 27.
    sections = page.locator("details.rp-section")
    assert sections.count() >= 8
    assert page.locator("details.rp-section[open]").count() == 1
    screens = page.evaluate("document.documentElement.scrollHeight") / PHONE_SCREEN["height"]
    assert screens < 5, f"{screens:.1f} screens"
    # Opened, the timeline is one card per event, still without sideways scroll.
    page.get_by_role("heading", name="Timeline").click()
    expect(page.locator("table.timeline-table")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SCREEN["width"]


def test_the_report_opens_every_section_on_a_desktop(demo, browsers):
    request = applied()
    ic = browsers("ic", viewport=DESKTOP_SCREEN)
    ic.page.goto(f"/requests/{request.pk}/report/")
    expect(ic.page.locator("details.rp-section:not([open])")).to_have_count(0)


def test_a_break_glass_rollback_is_offered_without_nothing_to_do_above_it(demo, browsers):
    """`ic` broke the glass and does not hold rollback: the grant's rollback is theirs to do,
    so the page does not say there is nothing for them to do."""
    request = declared_and_checked()
    break_glass(
        actor=person("ic"),
        request_id=request.pk,
        justification="approvers unreachable, EU checkout down for 20 minutes",
    )
    finish(request)
    ic = browsers("ic", viewport=PHONE_SCREEN)
    ic.page.goto(f"/requests/{request.pk}/")
    in_first_screen(ic.page, summary(ic.page, "Roll back (break-glass grant)"))
    assert "Nothing for you to do" not in ic.page.locator("main").inner_text()
    assert ic.page.get_by_role("link", name="Break glass").count() == 0
