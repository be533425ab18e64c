"""The post-incident report covers drills (issue 17): a drill's own report, and a real
failover's rehearsal evidence (NIST CSF 2.0 ID.IM-02, and RC.RP-01's lines)."""

from datetime import timedelta

import pytest

from failover.models import FailoverRequest
from failover.report.evidence import build_report
from failover.report.markdown import render
from failover.services import declare_request
from tests.drills.test_drill_zonefile import declare
from tests.factories import approve_all, make_service, run_worker, user

pytestmark = pytest.mark.django_db


def control(report: dict, control_id: str) -> dict:
    return next(c for c in report["frameworks"]["controls"] if c["id"] == control_id)


@pytest.fixture
def shop(db):
    return make_service("shop", policy={"execute_on_approval": True})


def completed(request: FailoverRequest) -> FailoverRequest:
    approve_all(request)
    run_worker(request)
    request.refresh_from_db()
    return request


def test_a_drill_reports_itself_as_the_rehearsal(shop, zone_dir):
    drill = completed(declare(shop, drill=True))
    report = build_report(drill)
    assert report["request"]["drill"] is True and report["rehearsal"]["drill"] is True
    assert set(report["rehearsal"]["seconds"]["roles"]) == {
        "availability", "identity", "incident_response"
    }  # fmt: skip
    assert control(report, "ID.IM-02")["status"] == "met"
    rc = control(report, "RC.RP-01")
    assert rc["status"] == "met" and "a drill" in rc["lines"][0]
    text = render(report)
    assert f"Post-incident report: drill #{drill.pk}" in text and "## Rehearsal" in text


def test_a_real_failover_is_judged_by_the_last_drill_before_it(shop, zone_dir):
    drill = completed(declare(shop, drill=True))
    real = completed(
        declare_request(
            actor=user("declarer"),
            service=shop,
            target="failover",
            reason="down",
            incident_ref="INC-7",
        )
    )
    report = build_report(real)
    rehearsal = report["rehearsal"]
    assert rehearsal["last_drill"]["id"] == drill.pk and rehearsal["within_window"] is True
    assert control(report, "ID.IM-02")["status"] == "met"
    assert any(
        f"rehearsed by drill #{drill.pk}" in line for line in control(report, "RC.RP-01")["lines"]
    )
    assert "Last completed drill: #" in render(report)


def test_no_drill_or_an_old_one_is_a_gap(shop, zone_dir):
    real = completed(declare(shop, drill=False))
    report = build_report(real)
    assert report["rehearsal"]["last_drill"] is None
    assert control(report, "ID.IM-02")["status"] == "gap"

    old = make_service("old", policy={"execute_on_approval": True})
    drill = completed(declare(old, drill=True))
    FailoverRequest.objects.filter(pk=drill.pk).update(
        created_at=drill.created_at - timedelta(days=45)
    )
    report = build_report(completed(declare(old, drill=False)))
    assert report["rehearsal"]["last_drill"]["id"] == drill.pk
    assert report["rehearsal"]["within_window"] is False
    outcome = control(report, "ID.IM-02")
    assert (
        outcome["status"] == "gap" and "older than the policy's 30-day window" in outcome["lines"]
    )


def test_the_report_page_shows_the_rehearsal(shop, zone_dir, client):
    drill = completed(declare(shop, drill=True))
    client.force_login(user("declarer"))
    page = client.get(f"/requests/{drill.pk}/report/").content.decode()
    assert f"Post-incident report: drill #{drill.pk}" in page
    assert "This request is a drill: no traffic moved" in page and "Availability decided" in page
