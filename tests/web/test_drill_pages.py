"""Drills in the pages (issue 17): "Rehearse" on the declare page, the drill named as one on
its page and the dashboard, the service page's last drill and what is due."""

import pytest
from django.core.cache import cache

from failover.models import FailoverRequest
from tests.web.test_pages import DECLARE

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def text(response) -> str:
    return response.content.decode()


def test_rehearse_declares_a_drill_the_pages_call_one(demo, signed_in):
    ic = signed_in("ic")
    form = text(ic.get("/declare/"))
    assert 'value="rehearse"' in form and "failover-drill." in form
    response = ic.post("/declare/", {**DECLARE, "intent": "rehearse"})
    drill = FailoverRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/requests/{drill.pk}/"
    assert drill.drill and drill.plan["changes"][0]["name"].startswith("failover-drill.")
    page = text(ic.get(f"/requests/{drill.pk}/"))
    assert f"Drill #{drill.pk}: Checkout" in page and "No traffic moves" in page
    assert f"Drill #{drill.pk} declared" in page
    dashboard = text(signed_in("avail").get("/"))
    assert 'class="badge drill"' in dashboard
    service = text(ic.get("/services/checkout/"))
    assert f'Last drill: <a href="/requests/{drill.pk}/">#{drill.pk}</a>' in service


def test_a_real_failover_is_still_a_failover_and_cancels_the_open_drill(demo, signed_in):
    ic = signed_in("ic")
    ic.post("/declare/", {**DECLARE, "intent": "rehearse"})
    drill = FailoverRequest.objects.get()
    response = ic.post("/declare/", DECLARE)
    real = FailoverRequest.objects.exclude(pk=drill.pk).get()
    assert response.status_code == 302 and not real.drill
    drill.refresh_from_db()
    assert drill.state == "cancelled"
    assert f"Failover #{real.pk}: Checkout" in text(ic.get(f"/requests/{real.pk}/"))


def test_no_rehearsal_while_a_real_failover_is_active(demo, signed_in):
    ic = signed_in("ic")
    ic.post("/declare/", DECLARE)
    response = ic.post("/declare/", {**DECLARE, "intent": "rehearse"})
    assert response.status_code == 409
    assert "a real request always wins" in text(response)
    assert FailoverRequest.objects.filter(drill=True).count() == 0


def test_the_dashboard_and_service_page_say_a_drill_is_due(demo, signed_in):
    dashboard = text(signed_in("avail").get("/"))
    assert "Drilled" in dashboard and "not in 30 days" in dashboard
    service = text(signed_in("ic").get("/services/checkout/"))
    assert "Never drilled." in service and "No drill completed in the last 30 days" in service
