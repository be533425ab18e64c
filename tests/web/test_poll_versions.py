"""The request page's polls answered from the memo (failover/web/live.py): an unchanged poll
costs five queries and builds nothing; every change a viewer can see makes the next poll
build and send the new fragment, never 204."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.execution import execute_request
from approvals.fingerprints import request_fingerprint
from approvals.readiness.checks.base import IDENTITY_CRITICAL, CheckResult
from approvals.readiness.services import store_results
from approvals.services import expire_stale_requests, record_decision
from dnsproviders.models import DnsChange
from failover.models import FailoverRequest, RecordValue, Service
from failover.services import declare_request, replan_request
from failover.web.live import MEMO_PREFIX, memo_key
from failover.web.request_page import FINGERPRINT_SHARED_FOR, PARTS
from tests.factories import run_worker

pytestmark = pytest.mark.django_db

# The session, the user, and the fingerprint (approvals/fingerprints.py).
UNCHANGED_POLL_QUERIES = 3


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def person(username):
    return get_user_model().objects.get(username=username)


def declared(target="failover") -> FailoverRequest:
    return declare_request(
        actor=person("ic"),
        service=Service.objects.get(slug="checkout"),
        target=target,
        reason="eu-west-1 is down",
        incident_ref="INC-7",
    )


class Viewer:
    """One person's open request page: the versions it shows, polled as htmx does."""

    def __init__(self, client, request):
        self.client, self.pk = client, request.pk
        self.versions: dict[str, str] = {}
        self.load()

    def load(self) -> None:
        page = self.client.get(f"/requests/{self.pk}/").content.decode()
        self.read(page)
        # One element polls for the whole page; the parts do not poll by themselves.
        assert page.count("hx-trigger") == 1 and self.poller

    def read(self, html: str) -> set[str]:
        """The parts (and the poller) in a page or a poll's answer, with their versions."""
        found = set()
        for part in PARTS:
            match = re.search(rf'id="request-{part}"[^>]*data-version="(\w+)"', html)
            if match:
                self.versions[part] = match.group(1)
                found.add(part)
        poller = re.search(r'id="request-live"[^>]*hx-get="([^"]+)"', html)
        if poller:
            self.poller = poller.group(1).replace("&amp;", "&")
        return found

    def poll(self, part: str):
        cache.delete(f"{MEMO_PREFIX}:fingerprint:{self.pk}")
        url = f"/requests/{self.pk}/live/{part}/?v={self.versions[part]}"
        response = self.client.get(url, headers={"HX-Request": "true"})
        if response.status_code == 200:
            found = re.search(r'data-version="(\w+)"', response.content.decode())
            self.versions[part] = found.group(1)
        return response

    def changed(self, *, a_second_later: bool = True) -> set[str]:
        """One poll of the page, as the browser makes it: the parts that came back. Polls
        share the fingerprint for a second (request_page.polled_fingerprint): unless told
        otherwise, this poll comes after that second."""
        if a_second_later:
            cache.delete(f"{MEMO_PREFIX}:fingerprint:{self.pk}")
        response = self.client.get(self.poller, headers={"HX-Request": "true"})
        assert response.status_code in (200, 204), response
        if response.status_code == 204:
            return set()
        html = response.content.decode()
        parts = self.read(html)
        assert parts and html.count('hx-swap-oob="true"') == len(parts), html
        return parts

    def page_poll_queries(self) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert self.changed() == set()
        return len(captured.captured_queries)

    def queries(self, part: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert self.poll(part).status_code == 204
        return len(captured.captured_queries)


@pytest.fixture
def viewer(demo):
    def open_page(username: str, request: FailoverRequest) -> Viewer:
        client = Client()  # one browser each: their own session
        client.force_login(person(username))
        return Viewer(client, request)

    return open_page


def test_an_unchanged_poll_is_answered_from_the_memo(viewer):
    page = viewer("avail", declared())
    assert page.changed() == set()
    assert page.page_poll_queries() <= UNCHANGED_POLL_QUERIES
    for part in PARTS:
        assert page.queries(part) <= UNCHANGED_POLL_QUERIES, part


def test_a_change_brings_only_the_parts_that_changed(viewer):
    """Someone else's approval changes status and record, not identity's actions (an open
    form stays as it is): the answer carries those two and a poller with their versions."""
    request = declared()
    page = viewer("identity", request)
    before = dict(page.versions)
    record_decision(
        actor=person("avail"),
        request_id=request.pk,
        kind="approve",
        role="availability",
        plan_hash=request.plan_hash,
    )
    assert page.changed() == {"status", "record"}
    assert page.versions["actions"] == before["actions"]
    assert f"request-status={page.versions['status']}" in page.poller
    assert page.changed() == set()


def test_polls_share_the_fingerprint_for_a_second(viewer):
    """200 people watching one page: their polls ask the database once a second. A change
    reaches them within that second, not later."""
    request = declared()
    page = viewer("identity", request)
    assert page.changed() == set()
    record_decision(
        actor=person("avail"),
        request_id=request.pk,
        kind="approve",
        role="availability",
        plan_hash=request.plan_hash,
    )
    with CaptureQueriesContext(connection) as captured:
        assert page.changed(a_second_later=False) == set()  # the shared fingerprint
    assert len(captured.captured_queries) == UNCHANGED_POLL_QUERIES - 1
    time.sleep(FINGERPRINT_SHARED_FOR + 0.1)
    assert page.changed(a_second_later=False) == {"status", "record"}


def test_a_poll_with_an_old_version_gets_the_fragment(viewer):
    page = viewer("avail", declared())
    page.versions["status"] = "0" * 16
    response = page.poll("status")
    assert response.status_code == 200 and 'id="request-status"' in response.text


def test_someone_elses_approval_reaches_status_and_record(viewer):
    request = declared()
    page = viewer("identity", request)
    record_decision(
        actor=person("avail"),
        request_id=request.pk,
        kind="approve",
        role="availability",
        plan_hash=request.plan_hash,
    )
    assert {"status", "record"} <= page.changed()
    assert page.changed() == set()  # and then the memo holds again


def test_a_veto_reaches_every_viewer(viewer):
    request = declared()
    ic, avail = viewer("ic", request), viewer("avail", request)
    record_decision(actor=person("identity"), request_id=request.pk, kind="veto", comment="no")
    assert {"status", "record"} <= ic.changed()
    assert {"status", "record"} <= avail.changed()
    assert "Vetoed by" in avail.client.get(f"/requests/{request.pk}/").content.decode()


def test_a_readiness_result_reaches_the_page(viewer):
    request = declared()
    page = viewer("identity", request)
    store_results(
        request, request.to_target, [CheckResult("tls", False, "certificate expired yesterday")]
    )
    # The system veto shows, with its lifting for identity (the timeline has request events).
    assert {"status", "actions"} <= page.changed()
    status = page.client.get(f"/requests/{request.pk}/live/status/").content.decode()
    assert "certificate expired yesterday" in status


def test_removed_from_the_approving_group_the_actions_go(viewer):
    request = declared()
    avail = person("avail")
    # Still on the service through another group, so the page stays theirs to see.
    avail.groups.add(Group.objects.get(name="Communications"))
    page = viewer("avail", request)
    assert "Approve as availability" in page.client.get(f"/requests/{request.pk}/").content.decode()
    avail.groups.remove(Group.objects.get(name="Availability leads"))
    assert "actions" in page.changed()
    actions = page.client.get(f"/requests/{request.pk}/live/actions/").content.decode()
    assert "Approve as availability" not in actions


def test_a_deactivated_holder_leaves_the_chain_shown(viewer):
    request = declared()
    page = viewer("ic", request)
    avail = person("avail")
    avail.is_active = False
    avail.save()
    assert "status" in page.changed() or "record" in page.changed()


def test_an_expired_request_is_shown_expired(viewer):
    request = declared()
    FailoverRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    page = viewer("avail", request)
    assert page.changed() == set()
    expire_stale_requests()
    assert {"status", "actions", "record"} <= page.changed()
    status = page.client.get(f"/requests/{request.pk}/live/status/").content.decode()
    assert "expired" in status


def test_a_render_is_trusted_only_until_the_next_deadline(viewer):
    request = declared()
    soon = (timezone.now() + timedelta(minutes=3)).replace(microsecond=0)
    FailoverRequest.objects.filter(pk=request.pk).update(expires_at=soon)
    _checks_reported(request)  # else "the checks are late" comes first
    page = viewer("avail", request)
    key = memo_key("request-actions", person("avail").pk, request_fingerprint(request.pk))
    version, until = cache.get(key)
    assert version == page.versions["actions"] and until == soon.timestamp()
    assert page.queries("actions") <= UNCHANGED_POLL_QUERIES
    # The same memo once its time has passed: not trusted, the poll builds the part again.
    cache.set(key, (version, time.time() - 1))
    with CaptureQueriesContext(connection) as captured:
        assert page.poll("actions").status_code == 204  # built: still the same actions
    assert len(captured.captured_queries) > UNCHANGED_POLL_QUERIES
    assert cache.get(key)[1] == soon.timestamp()  # and remembered again


def test_a_replan_reaches_the_approvers(viewer):
    request = declared()
    page = viewer("avail", request)
    RecordValue.objects.filter(record__service=request.service, target__name="failover").update(
        values=["203.0.113.99"]
    )
    # An edit behind the product's back reaches the page (the drift is shown), then the
    # re-plan does.
    assert "status" in page.changed()
    replan_request(actor=person("ic"), request_id=request.pk, reason="registry moved")
    assert {"actions", "record"} <= page.changed()


def _checks_reported(request: FailoverRequest) -> None:
    store_results(
        request,
        request.to_target,
        [CheckResult(kind, True, "fine") for kind in (*IDENTITY_CRITICAL, "health")],
    )


def _executed(request: FailoverRequest) -> FailoverRequest:
    _checks_reported(request)
    for who, kind, role in (
        ("avail", "approve", "availability"),
        ("identity", "approve", "identity"),
        ("ir", "sign_off", "incident_response"),
    ):
        record_decision(
            actor=person(who),
            request_id=request.pk,
            kind=kind,
            role=role,
            plan_hash=request.plan_hash,
        )
    request.refresh_from_db()
    if request.state == "approved":
        execute_request(actor=person("executor"), request_id=request.pk, channel="web")
    return request


def test_a_dns_change_applied_reaches_the_record(viewer):
    request = declared()
    _executed(request)
    assert DnsChange.objects.filter(request=request).exists()
    page = viewer("ic", request)
    run_worker(request)
    assert {"status", "record"} <= page.changed()


def test_the_memo_is_per_viewer(viewer):
    request = declared()
    avail = viewer("avail", request)
    identity = viewer("identity", request)
    # identity's versions are not avail's: sent by avail, they are built, not trusted.
    avail.versions["actions"] = identity.versions["actions"]
    assert avail.poll("actions").status_code == 200


def test_the_clock_alone_changes_no_part(viewer, monkeypatch):
    """A countdown's words ("in 3 hours, 59 minutes") move with the clock, not with the data,
    and the page ticks them itself (app.js): a poll built minutes after the page (its memo
    past its time) sends no part for them, so nothing is swapped under someone typing."""
    from django.template import defaultfilters

    page = viewer("avail", declared())
    real = defaultfilters.timeuntil
    later = timezone.now() + timedelta(minutes=2)
    monkeypatch.setattr(defaultfilters, "timeuntil", lambda value, arg=None: real(value, later))
    cache.clear()  # every memo past its time: the poll builds every part
    assert page.changed() == set()
    # The moment itself is data: a request given longer to live is shown anew.
    FailoverRequest.objects.filter(pk=page.pk).update(expires_at=later + timedelta(hours=5))
    assert page.changed() == {"status"}
