"""/insights/ (issue 17): decision times per role, drills beside incidents, server-rendered
SVG; readable at 375 px."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from approvals.models import Decision
from approvals.services import record_decision
from failover.models import FailoverRequest, Service
from failover.services import declare_request
from tests.factories import user

pytestmark = pytest.mark.django_db
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def decided(slug: str, *, drill: bool, minutes: int, state: str = "cancelled") -> FailoverRequest:
    """A demo request of `slug`: avail approved `minutes` after it was declared."""
    from django.contrib.auth import get_user_model

    people = get_user_model().objects
    service = Service.objects.get(slug=slug)
    request = declare_request(
        actor=people.get(username="ic"), service=service, target="failover", reason="x", drill=drill
    )
    record_decision(
        actor=people.get(username="avail"),
        request_id=request.pk,
        kind="approve",
        role="availability",
        plan_hash=request.plan_hash,
    )
    declared = request.created_at - timedelta(days=3)
    FailoverRequest.objects.filter(pk=request.pk).update(created_at=declared, state=state)
    Decision.objects.filter(request=request).update(
        created_at=declared + timedelta(minutes=minutes)
    )
    return request


@pytest.fixture
def history(demo, settings):
    settings.READINESS_SYSTEM_VETO = False
    drill = decided("checkout", drill=True, minutes=4)
    real = decided("checkout", drill=False, minutes=12)
    return drill, real


def test_the_page_draws_each_role_with_drills_beside_incidents(history, signed_in):
    drill, real = history
    page = signed_in("ic").get("/insights/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<svg") == 1  # one role decided: availability
    assert html.count('class="drill"') == 1 and html.count('class="incident"') == 1
    assert f"checkout #{drill.pk}: 4.0 min (drill)" in html
    assert f"checkout #{real.pk}: 12.0 min (incident)" in html
    assert "4.0 min" in html and "12.0 min" in html  # the medians' table
    assert "Needs a drill" in html  # no drill of checkout completed


def test_a_bad_window_is_a_400_that_says_why(demo, signed_in):
    page = signed_in("ic").get("/insights/", {"days": "1000"})
    assert page.status_code == 400
    assert "a whole number of days from 1 to 366" in page.content.decode()


def test_nobody_sees_the_figures_of_services_they_cannot_see(history, signed_in, client):
    assert client.get("/insights/").status_code == 302  # signed out: to the sign-in page
    outsider = user("outsider")
    client.force_login(outsider)
    html = client.get("/insights/").content.decode()
    assert "<svg" not in html and "checkout" not in html


def test_readable_at_375_px(history, browsers, tmp_path):
    person = browsers("ic")
    person.page.goto("/insights/")
    chart = person.page.locator("svg.chart").first
    box = chart.bounding_box()
    assert box and box["width"] <= 375 and box["height"] > 100
    scroll_width = person.page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375, "the page scrolls sideways"
    # docs/screenshots is refreshed on demand only (test_browser.py says why).
    folder = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    folder.mkdir(exist_ok=True)
    person.page.screenshot(path=str(folder / "insights-375.png"), full_page=True)
    assert person.console_errors == []
