"""The browser views through Django's test client: every page, every refusal, no 500s."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.cache import cache

from approvals.models import Decision
from approvals.services import record_decision
from failover.models import FailoverRequest, Service
from failover.services import declare_request, grant_authority
from failover.web.live import MEMO_PREFIX

pytestmark = pytest.mark.django_db

DECLARE = {
    "destination": "checkout/failover",
    "segment": "",
    "reason": "eu-west-1 is down",
    "incident_ref": "INC-7",
    "min_minutes_on_target": "30",
    "primary_healthy_minutes": "15",
    "decide_within_minutes": "240",
    "notes": "",
    "intent": "declare",
}


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()  # the step-up lockout counts failures in the cache
    yield
    cache.clear()


def person(username):
    return get_user_model().objects.get(username=username)


def declared(service="checkout", target="failover", by="ic"):
    return declare_request(
        actor=person(by),
        service=Service.objects.get(slug=service),
        target=target,
        reason="eu-west-1 is down",
        incident_ref="INC-7",
    )


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# --- sign-in, sign-out, who you are ------------------------------------------------------


def test_every_page_needs_a_sign_in(client, demo):
    request = declared()
    for url in (
        "/",
        "/services/checkout/",
        "/services/checkout/runbook/",
        "/services/checkout/runbook.md",
        "/declare/",
        f"/requests/{request.pk}/",
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


def test_a_polled_fragment_whose_session_ended_sends_htmx_to_the_sign_in_page(client, demo):
    response = client.get("/live/dashboard/", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/login/"


def test_sign_in_and_out(client, demo):
    response = client.post("/login/", {"username": "ic", "password": "wrong"})
    assert response.status_code == 400
    assert "correct username and password" in text(response)
    response = client.post("/login/", {"username": "ic", "password": "demo"})
    assert response.status_code == 302 and response["Location"] == "/"
    page = text(client.get("/"))
    assert "You are <strong>Iris Commander</strong> (ic)" in page
    assert "Declare a failover, Break glass" in page
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_the_panel_says_an_administrator_holds_nothing(signed_in, demo):
    page = text(signed_in("admin").get("/"))
    assert "hold no authority on any service" in page
    assert "Being an administrator gives no authority" in page


# --- dashboard ---------------------------------------------------------------------------


def test_dashboard_lists_active_requests_services_and_what_waits_for_you(signed_in, demo):
    request = declared()
    record_decision(
        actor=person("identity"),
        request_id=request.pk,
        kind="veto",
        comment="token exchange broken in us-east-1",
    )
    page = text(signed_in("avail").get("/"))
    active = page.index("Active failovers")
    services = page.index('id="services-heading"')
    pending = page.index('id="pending-heading"')
    assert pending < active < services  # "Waiting for you" first (issue 17)
    assert f"#{request.pk} Checkout: primary → failover" in page
    assert 'class="veto"><strong>Veto:</strong> vetoed by identity: token exchange' in page
    assert "availability approval</strong> (0 of 1) — can give it: avail" in page
    assert "incident response sign-off</strong> (0 of 1) — can give it: ir" in page
    assert "Approvals expire" not in page  # nothing counted yet, nothing to expire
    # Services: governance status, the broken chain flagged, the current target.
    assert "incomplete</span> cannot fail over: nobody holds" in page
    assert "Traffic goes to</dt> <dd>primary (eu-west-1, data in eu)" in page
    # What waits for avail: their approval, linked with the action ready.
    assert f'href="/requests/{request.pk}/?action=approve">Approve as availability' in page


def test_dashboard_counts_down_to_approval_expiry(signed_in, demo):
    request = declared()
    record_decision(
        actor=person("avail"),
        request_id=request.pk,
        kind="approve",
        role="availability",
        plan_hash=request.plan_hash,
    )
    page = text(signed_in("ic").get("/"))
    assert re.search(r"Approvals expire <time datetime=\"[^\"]+\" data-countdown>", page)


def test_the_dashboard_costs_the_same_queries_however_many_requests(signed_in, demo):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = signed_in("identity")
    # A pre-approving service's request first: its thresholds and signals are two queries
    # for the whole list, whatever else it holds (none when no service of it pre-approves).
    declared(service="status-page", target="backup")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/live/dashboard/").status_code == 200
        return len(captured)

    one = queries()
    declared()
    assert queries() == one


def test_a_poll_with_the_current_version_gets_no_content(signed_in, demo):
    client = signed_in("ic")
    page = client.get("/").content.decode()
    version = re.search(r'id="dashboard-live"[^>]*data-version="(\w+)"', page).group(1)
    assert client.get(f"/live/dashboard/?v={version}").status_code == 204
    declared()  # something changed: the fragment comes back, with a new version
    response = client.get(f"/live/dashboard/?v={version}")
    assert response.status_code == 200
    assert "primary → failover" in response.content.decode()
    assert f'data-version="{version}"' not in response.content.decode()


# --- services -------------------------------------------------------------------------------


def test_service_page_shows_targets_records_signals_and_the_chain(signed_in, demo):
    page = text(signed_in("identity").get("/services/checkout/"))
    for expected in (
        "https://localhost:8450/us",  # identity profile of the failover target
        "Example US Issuing CA",
        "vault://us-east-1/checkout",
        "Data residency</dt><dd>us</dd>",
        "checkout.example.test. A",
        'At failover</dt><dd class="mono">203.0.113.10',
        "Group <strong>Identity leads</strong>: Ian Identity (identity)",
        "No signals received.",
    ):
        assert expected in page, expected
    assert "Declare a failover</a>" not in page  # identity cannot declare


def test_service_page_shows_breached_thresholds(signed_in, demo):
    from failover.services import record_signal

    record_signal(
        service=Service.objects.get(slug="status-page"), metric="error_rate", value=12, source="t"
    )
    page = text(signed_in("ic").get("/services/status-page/"))
    assert "Threshold breached now:</strong> error_rate = 12 (&gt;= 5)" in page
    assert "Error rate (%) = 12 from t" in page


def test_runbook_printable_and_markdown(signed_in, demo):
    client = signed_in("ic")
    page = text(client.get("/services/legacy-billing/runbook/"))
    assert "Incomplete chain: this service cannot be failed over." in page
    for title in ("Who can declare", "Who validates", "Who updates DNS", "Who can reverse"):
        assert title in page
    response = client.get("/services/checkout/runbook.md")
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert 'filename="checkout-runbook.md"' in response["Content-Disposition"]
    markdown = response.content.decode()
    assert markdown.startswith("# Failover runbook: Checkout (`checkout`)")
    assert (
        "- **Approve as identity lead** (`approve_identity`): Identity leads (Ian Identity "
        "(identity))" in markdown
    )
    assert "## Who can reverse" in markdown
    assert "- **Roll back a failover** (`rollback`): Executors (Eve Executor (executor))" in (
        markdown
    )


def test_authority_on_one_service_shows_nothing_of_another(client, demo):
    outsider = get_user_model().objects.create_user("statusonly", password="demo")
    grant_authority(
        actor=person("admin"),
        service=Service.objects.get(slug="status-page"),
        authority="declare",
        user=outsider,
    )
    request = declared()
    client.force_login(outsider)
    for url in (
        "/services/checkout/",
        "/services/checkout/runbook/",
        "/services/checkout/runbook.md",
        f"/requests/{request.pk}/",
        f"/requests/{request.pk}/live/status/",
        f"/requests/{request.pk}/live/actions/",
        f"/requests/{request.pk}/live/record/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/requests/{request.pk}/", {"kind": "cancel"}).status_code == 404
    dashboard = text(client.get("/"))
    assert "Status page" in dashboard and "Checkout" not in dashboard
    declare = text(client.get("/declare/"))
    assert "status-page/backup" in declare and "checkout" not in declare
    response = client.post("/declare/", DECLARE)
    assert response.status_code == 400  # not a choice this person has
    assert FailoverRequest.objects.count() == 1


# --- declaring -----------------------------------------------------------------------------


def test_declare_page_shows_the_plan_before_submitting(signed_in, demo):
    client = signed_in("ic")
    page = text(client.get("/declare/?service=checkout"))
    assert 'value="checkout/failover" selected' in page
    assert '<del class="value">198.51.100.10</del>' in page
    assert '<ins class="value">203.0.113.10</ins>' in page
    assert "identity provider changes from https://localhost:8450/eu" in page
    assert "Needs: availability approval, identity approval, incident response sign-off" in page
    assert 'value="30"' in page  # rollback defaults
    fragment = text(client.get("/declare/plan/?destination=status-page/backup"))
    assert "No plan:" not in fragment and '<ins class="value">198.51.100.120</ins>' in fragment
    assert "Needs: availability approval, identity approval." in fragment
    fragment = text(client.get("/declare/plan/?destination=legacy-billing/dr"))
    assert "No plan: Legacy billing cannot be failed over: nobody holds Approve as" in fragment
    fragment = text(client.get("/declare/plan/?destination=checkout/nowhere"))
    assert "No plan: Checkout has no target &#x27;nowhere&#x27;" in fragment
    assert FailoverRequest.objects.count() == 0


def test_declaring_in_the_browser(signed_in, demo):
    client = signed_in("ic")
    response = client.post("/declare/", DECLARE)
    request = FailoverRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/requests/{request.pk}/"
    assert request.rollback_criteria["min_minutes_on_target"] == 30
    assert request.incident_ref == "INC-7"
    page = text(client.get(response["Location"]))
    assert f"Failover #{request.pk} declared." in page


def test_bad_declarations_are_refused_on_the_form(signed_in, demo):
    client = signed_in("ic")
    response = client.post("/declare/", {**DECLARE, "reason": " ", "decide_within_minutes": "1"})
    assert response.status_code == 400
    page = text(response)
    assert "This field is required." in page
    assert "Ensure this value is greater than or equal to 5." in page
    response = client.post("/declare/", {**DECLARE, "reason": "nul \x00 byte"})
    assert response.status_code == 400
    response = client.post("/declare/", {**DECLARE, "destination": "legacy-billing/dr"})
    assert response.status_code == 409
    assert "cannot be failed over: its authority chain has no holder" in text(response)
    response = client.post(
        "/declare/", {**DECLARE, "segment": "retail", "destination": "status-page/backup"}
    )
    assert response.status_code == 400
    assert "unknown segment; known: none" in text(response)
    assert FailoverRequest.objects.count() == 0
    first = client.post("/declare/", DECLARE)
    assert first.status_code == 302
    again = client.post("/declare/", DECLARE)
    assert again.status_code == 409
    request = FailoverRequest.objects.get()
    assert f'Act on <a href="/requests/{request.pk}/">request #{request.pk}</a>' in text(again)


def test_refreshing_the_plan_keeps_what_was_typed(signed_in, demo):
    response = signed_in("ic").post("/declare/", {**DECLARE, "reason": "", "intent": "preview"})
    assert response.status_code == 200
    assert "This field is required." not in text(response)
    assert '<ins class="value">203.0.113.10</ins>' in text(response)


# --- the request page -----------------------------------------------------------------------


def buttons(page: str) -> list[str]:
    return re.findall(r"<summary>([^<]+)</summary>", page)


def test_each_person_sees_only_the_actions_they_may_take_now(signed_in, demo):
    request = declared()
    url = f"/requests/{request.pk}/"
    recheck = "Run the readiness checks again"
    assert buttons(text(signed_in("ic").get(url))) == ["Cancel request", recheck]
    assert buttons(text(signed_in("avail").get(url))) == [
        "Approve as availability",
        "Reject as availability",
        recheck,
    ]
    assert buttons(text(signed_in("identity").get(url))) == [
        "Approve as identity",
        "Veto",
        "Reject as identity",
        "Attest a secret rotation of the target",
        recheck,
    ]
    assert buttons(text(signed_in("ir").get(url))) == [
        "Sign off for incident response",
        "Reject as incident response",
        recheck,
    ]
    assert buttons(text(signed_in("executor").get(url))) == [recheck]
    page = text(signed_in("avail").get(url))
    assert f'You approve plan <span class="hash" data-plan-hash="{request.plan_hash}">' in page
    assert 'name="password"' in page


def test_the_requester_cannot_approve_their_own_request(signed_in, demo):
    # Give ic approval authority too: the rule, not a missing grant, must refuse.
    grant_authority(
        actor=person("admin"),
        service=Service.objects.get(slug="checkout"),
        authority="approve_availability",
        user=person("ic"),
    )
    request = declared()
    client = signed_in("ic")
    assert "Approve as availability" not in buttons(text(client.get(f"/requests/{request.pk}/")))
    forged = {
        "kind": "approve",
        "role": "availability",
        "plan_hash": request.plan_hash,
        "password": "demo",
    }
    response = client.post(f"/requests/{request.pk}/", forged)
    assert response.status_code == 403
    assert "you declared this request; someone else must approve" in text(response)
    assert not Decision.objects.exists()


def test_approving_needs_the_password_and_names_the_plan(signed_in, demo):
    request = declared()
    client = signed_in("avail")
    post = {"kind": "approve", "role": "availability", "plan_hash": request.plan_hash}
    response = client.post(f"/requests/{request.pk}/", {**post, "password": "nope"})
    assert response.status_code == 400
    page = text(response)
    assert "Nothing was done: that is not your password (4 attempts left)." in page
    assert 'id="action-approve-availability" open data-focus' in page
    assert not Decision.objects.exists()
    response = client.post(f"/requests/{request.pk}/", {**post, "password": "demo"})
    assert response.status_code == 302
    page = text(client.get(response["Location"]))
    assert f"You approved as availability (plan {request.plan_hash[:12]})." in page
    assert Decision.objects.get().role == "availability"


def test_a_stale_plan_hash_is_refused(signed_in, demo):
    request = declared()
    response = signed_in("avail").post(
        f"/requests/{request.pk}/",
        {"kind": "approve", "role": "availability", "plan_hash": "0" * 64, "password": "demo"},
    )
    assert response.status_code == 409
    assert "the plan has changed since you loaded it" in text(response)


def test_five_wrong_passwords_lock_the_confirmation(signed_in, demo):
    request = declared()
    client = signed_in("identity")
    post = {"kind": "veto", "comment": "tokens fail", "password": "wrong"}
    for _ in range(4):
        assert client.post(f"/requests/{request.pk}/", post).status_code == 400
    response = client.post(f"/requests/{request.pk}/", post)
    assert response.status_code == 429
    assert "confirmation is now locked for 10 min" in text(response)
    response = client.post(f"/requests/{request.pk}/", {**post, "password": "demo"})
    assert response.status_code == 429
    assert "too many wrong answers" in text(response)
    assert not Decision.objects.exists()


def test_a_veto_needs_a_reason_and_blocks_execution_buttons(signed_in, demo):
    request = declared()
    identity = signed_in("identity")
    response = identity.post(
        f"/requests/{request.pk}/", {"kind": "veto", "comment": "", "password": "demo"}
    )
    assert response.status_code == 400
    assert "give a reason for the veto" in text(response)
    response = identity.post(
        f"/requests/{request.pk}/",
        {"kind": "veto", "comment": "token exchange fails in us-east-1", "password": "demo"},
    )
    assert response.status_code == 302
    page = text(identity.get(f"/requests/{request.pk}/"))
    assert "Vetoed by identity</strong>" in page and "token exchange fails" in page
    assert "Lift my veto" in buttons(page) and "Veto" not in buttons(page)


def test_a_notification_link_opens_the_asked_action(signed_in, demo):
    request = declared()
    page = text(signed_in("ir").get(f"/requests/{request.pk}/?action=approve"))
    assert 'id="action-sign_off-incident_response" open data-focus' in page
    page = text(signed_in("executor").get(f"/requests/{request.pk}/?action=execute"))
    assert "asks for an action you cannot take on this request now" in page


def test_actions_fragment_keeps_its_version_while_nothing_changes(signed_in, demo):
    request = declared()
    client = signed_in("avail")
    page = client.get(f"/requests/{request.pk}/").content.decode()
    version = re.search(r'id="request-actions"[^>]*data-version="(\w+)"', page).group(1)
    url = f"/requests/{request.pk}/live/actions/?v={version}"
    assert client.get(url).status_code == 204
    shared = f"{MEMO_PREFIX}:fingerprint:{request.pk}"  # polls share it for a second
    record_decision(actor=person("identity"), request_id=request.pk, kind="veto", comment="no")
    cache.delete(shared)
    assert client.get(url).status_code == 204  # avail's choices did not change
    record_decision(
        actor=person("avail"),
        request_id=request.pk,
        kind="approve",
        role="availability",
        plan_hash=request.plan_hash,
    )
    cache.delete(shared)
    response = client.get(url)
    assert response.status_code == 200 and "Approve as availability" not in response.text


def test_malformed_posts_are_refused_without_a_500(signed_in, demo):
    request = declared()
    client = signed_in("identity")
    for post in (
        {"kind": "bogus"},
        {"kind": "lift_veto", "veto_id": "abc"},
        {"kind": "approve", "role": "nonsense", "plan_hash": request.plan_hash, "password": "demo"},
        {"kind": "lift_veto"},
        {"kind": "veto", "comment": "nul \x00 byte", "password": "demo"},
        {},
    ):
        response = client.post(f"/requests/{request.pk}/", post)
        assert 400 <= response.status_code < 500, (post, response.status_code)
    assert client.get("/requests/999999/").status_code == 404
    assert client.get("/requests/abc/").status_code == 404
    assert not Decision.objects.exists()


def test_cancel_and_rollback_buttons(signed_in, demo):
    request = declared()
    client = signed_in("ic")
    response = client.post(f"/requests/{request.pk}/", {"kind": "cancel", "comment": "false alarm"})
    assert response.status_code == 302
    assert FailoverRequest.objects.get().state == "cancelled"
    page = text(client.get(f"/requests/{request.pk}/"))
    assert "The request is cancelled." in page
    assert buttons(page) == []


def test_every_asset_is_served_by_the_app():
    for path in ("django_htmx/htmx-2.min.js", "failover/app.css", "failover/app.js"):
        assert finders.find(path), path


def test_executing_a_preapproved_request_and_rolling_it_back(signed_in, demo):
    from dnsproviders import tasks
    from dnsproviders.models import DnsChange
    from failover.services import record_signal

    record_signal(
        service=Service.objects.get(slug="status-page"), metric="error_rate", value=12, source="t"
    )
    request = declared(service="status-page", target="backup")
    ic = signed_in("ic")
    page = text(ic.get(f"/requests/{request.pk}/?action=execute"))
    assert 'id="action-execute" open data-focus' in page
    assert "Execute failover (pre-approved by a breached threshold)" in buttons(page)
    assert f'You execute plan <span class="hash" data-plan-hash="{request.plan_hash}">' in page
    post = {"kind": "execute", "plan_hash": request.plan_hash}
    assert ic.post(f"/requests/{request.pk}/", {**post, "password": "x"}).status_code == 400
    stale = ic.post(f"/requests/{request.pk}/", {**post, "plan_hash": "0" * 64, "password": "demo"})
    assert stale.status_code == 409
    assert FailoverRequest.objects.get().state == "pending"
    assert ic.post(f"/requests/{request.pk}/", {**post, "password": "demo"}).status_code == 302
    for change in DnsChange.objects.filter(request=request):
        tasks.apply_change(change.pk)
    assert FailoverRequest.objects.get().state == "applied"

    executor_client = signed_in("executor")
    page = text(executor_client.get(f"/requests/{request.pk}/"))
    assert buttons(page) == ["Roll back"]
    assert "embedded-zones" in page and "Verified" in page  # the DNS change and its status
    response = executor_client.post(
        f"/requests/{request.pk}/", {"kind": "rollback", "comment": "eu-west-1 healthy"}
    )
    assert response.status_code == 400  # no password: nothing done
    assert FailoverRequest.objects.get().state == "applied"
    response = executor_client.post(
        f"/requests/{request.pk}/",
        {"kind": "rollback", "comment": "eu-west-1 healthy", "password": "demo"},
    )
    assert response.status_code == 302
    assert FailoverRequest.objects.get().state == "rolling_back"
    page = text(executor_client.get(f"/requests/{request.pk}/"))
    assert "Rolling back: the previous records are being restored." in page
    assert "applied → rolling_back</strong> by executor" in page  # the audit timeline
