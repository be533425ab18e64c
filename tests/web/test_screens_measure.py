"""How many screens each page is at 375 x 667, with screenshots (whole page and first
screen), written to $MEASURE_TO. Not an assertion (tests/web/test_first_screen.py asserts):
the numbers before and after a layout change, for its report.

    MEASURE_TO=/tmp/screens .venv/bin/pytest tests/web/test_screens_measure.py
"""

from __future__ import annotations

import json
import os

import pytest

from failover.services import cancel_request
from tests.web.first_screen_world import PHONE_SCREEN, applied, declared_and_checked, person

pytestmark = pytest.mark.django_db(transaction=True)


def measure(page, url: str, folder: str, name: str) -> dict:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=f"{folder}/{name}.png", full_page=True)
    page.screenshot(path=f"{folder}/{name}-first.png")
    return {
        name: round(page.evaluate("document.documentElement.scrollHeight") / 667, 2),
        f"{name}-width": page.evaluate("document.documentElement.scrollWidth"),
    }


@pytest.mark.skipif(not os.environ.get("MEASURE_TO"), reason="set MEASURE_TO=folder to measure")
def test_screens_per_page(demo, browsers):
    folder = os.environ["MEASURE_TO"]
    found: dict = {}
    pending = declared_and_checked()
    for who in ("avail", "ic"):
        page = browsers(who, viewport=PHONE_SCREEN).page
        found |= measure(page, f"/requests/{pending.pk}/", folder, f"request-pending-{who}")
        found |= measure(page, "/", folder, f"dashboard-{who}")
    cancel_request(actor=person("ic"), request_id=pending.pk, reason="measured")
    done = applied()
    for who in ("executor", "ic"):
        page = browsers(who, viewport=PHONE_SCREEN).page
        found |= measure(page, f"/requests/{done.pk}/", folder, f"request-applied-{who}")
        found |= measure(page, f"/requests/{done.pk}/report/", folder, f"report-{who}")
    # The report with every section opened, as someone reading all of it on a phone.
    page.evaluate("document.querySelectorAll('details.rp-section').forEach(d => d.open = true)")
    page.screenshot(path=f"{folder}/report-opened.png", full_page=True)
    found["report-opened"] = round(page.evaluate("document.documentElement.scrollHeight") / 667, 2)
    found["report-opened-width"] = page.evaluate("document.documentElement.scrollWidth")
    with open(f"{folder}/screens.json", "w") as out:
        json.dump(found, out, indent=1)
