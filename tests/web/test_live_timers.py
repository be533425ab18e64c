"""A page keeps updating when Chromium stops some of its timers, as seen in CI: a request
page's poll timer and its one-second check never fired again while a timer made afterwards
fired on time. The timers that stopped had each been made by a timer (htmx's "every 2s"
chain, a setInterval), which Chromium runs on a queue of its own once five deep.

Each test here stops timers in the page the same way (a script run before the page's own),
and changes the request while they are stopped: the page must show it."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model

from approvals.services import record_decision
from tests.web.test_browser import LIVE, checkout_declared, expect, no_console_errors

pytestmark = pytest.mark.django_db(transaction=True)

# Timers made by a timer five deep never fire: Chromium's nested-timer queue, stopped.
DEEP_TIMERS_STOP = """
(() => {
  let depth = 0;  // how deep the timer now running was made
  const setTimeout_ = window.setTimeout.bind(window);
  const setInterval_ = window.setInterval.bind(window);
  const run = (fn, args, at) => {
    const saved = depth;
    depth = at;
    try { fn(...args); } finally { depth = saved; }
  };
  window.setTimeout = (fn, ms, ...args) => {
    const at = depth + 1;
    return setTimeout_(() => { if (at < 5) run(fn, args, at); }, ms);
  };
  window.setInterval = (fn, ms, ...args) => {
    let at = depth;
    return setInterval_(() => { at += 1; if (at < 5) run(fn, args, at); }, ms);
  };
})();
"""

# The first two-second timer the page makes (its first poll's) never fires.
FIRST_POLL_TIMER_DIES = """
(() => {
  const setTimeout_ = window.setTimeout.bind(window);
  let killed = false;
  window.setTimeout = (fn, ms, ...args) => {
    if (!killed && ms === 2000) { killed = true; return setTimeout_(() => {}, ms); }
    return setTimeout_(fn, ms, ...args);
  };
})();
"""


def veto(request, comment: str) -> None:
    record_decision(
        actor=get_user_model().objects.get(username="identity"),
        request_id=request.pk,
        kind="veto",
        comment=comment,
    )


def opened_with(browsers, script: str):
    """A declared request's page opened by avail, `script` run before the page's own ->
    (the request, avail, when each of the page's polls went out)."""
    request = checkout_declared()
    avail = browsers("avail")
    avail.context.add_init_script(script)
    sent: list[float] = []
    avail.page.on("request", lambda r: "/live/" in r.url and sent.append(time.monotonic()))
    avail.page.goto(f"/requests/{request.pk}/")
    return request, avail, sent


def test_a_page_whose_nested_timers_stop_keeps_updating(demo, browsers):
    request, avail, _ = opened_with(browsers, DEEP_TIMERS_STOP)
    # Past the fifth poll (10 s), where a chain of timers made by timers would have stopped.
    time.sleep(14)
    veto(request, "certs not trusted")
    expect(avail.page.locator("#request-status .veto")).to_contain_text(
        "certs not trusted", timeout=LIVE
    )
    expect(avail.page.locator("[data-live-status]")).to_contain_text("Live: updated")
    no_console_errors(avail)


def test_a_page_whose_poll_timer_died_polls_again(demo, browsers):
    """Its first poll's timer never fires: the page's one-second check sees no poll sent for
    5 s and polls again."""
    request, avail, _ = opened_with(browsers, FIRST_POLL_TIMER_DIES)
    veto(request, "certs not trusted")
    # Silent for 5 s, then polling again, within the LIVE budget.
    expect(avail.page.locator("#request-status .veto")).to_contain_text(
        "certs not trusted", timeout=LIVE
    )
    no_console_errors(avail)


# The page says it is hidden until the test says otherwise (a tab in the background).
HIDDEN_UNTIL_SHOWN = """
(() => {
  window.__hidden = true;
  Object.defineProperty(document, "visibilityState", {
    get: () => (window.__hidden ? "hidden" : "visible"),
  });
  window.__show = (shown) => {
    window.__hidden = !shown;
    document.dispatchEvent(new Event("visibilitychange"));
  };
})();
"""


def test_a_tab_in_the_background_asks_seldom_and_at_once_when_shown(demo, browsers):
    request, avail, sent = opened_with(browsers, HIDDEN_UNTIL_SHOWN)
    veto(request, "certs not trusted")
    avail.page.wait_for_timeout(7_000)  # three polls' worth in view
    assert sent == []
    assert avail.page.locator("#request-status .veto").count() == 0
    # Shown: a poll at once, not at the next tick of the 2 s poll (which, each time shown
    # at another moment of it, would come within half a second only one time in four).
    for hidden_for in (0, 2_300, 2_900, 3_500):
        if hidden_for:
            avail.page.evaluate("() => window.__show(false)")
            avail.page.wait_for_timeout(hidden_for)
        before = len(sent)
        shown = time.monotonic()
        avail.page.evaluate("() => window.__show(true)")
        avail.page.wait_for_timeout(500)
        assert len(sent) > before and sent[before] - shown < 0.5, (hidden_for, sent, shown)
    expect(avail.page.locator("#request-status .veto")).to_contain_text("certs not trusted")
    no_console_errors(avail)
