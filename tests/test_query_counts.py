"""Every list endpoint and list page issues the same number of queries for 1, 100 and 1000
rows: a count that grows with the rows is an N+1 that would sink the page at scale.

Each size is seeded in bulk (failover.demo.scale) under a prefix of its own, seen by that prefix's
team, so the larger sizes also prove that rows the viewer cannot see cost nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import BreakGlass, BreakGlassReview
from failover.demo.scale import member, seed_events, seed_requests, seed_services
from failover.models import FailoverRequest, Signal
from tests.tokens import personal_token

pytestmark = pytest.mark.django_db

SIZES = (1, 100, 1000)


@pytest.fixture(autouse=True)
def readiness_veto_on(settings):
    """As in production: open requests also read their targets' readiness checks."""
    settings.READINESS_SYSTEM_VETO = True


def viewer(prefix: str, persona: str = "declarer"):
    return get_user_model().objects.get(username=member(prefix, 0, persona))


def bearer(user) -> dict:
    _, plain = personal_token(user, name="query counts")
    return {"HTTP_AUTHORIZATION": f"Bearer {plain}"}


def count_queries(client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    assert response.status_code == 200, response.content[:500]
    return len(queries)


def assert_flat(counts: dict[int, int]) -> None:
    assert len(set(counts.values())) == 1, f"queries by number of rows: {counts}"


def team_with_requests(n: int, *, requests: int | None = None) -> str:
    """n services held by one team, and `requests` (default 2n) requests over them: each
    service has an ended request, and every 20th (service 0 always) a pending one."""
    prefix = f"q{n}"
    services = seed_services(n, prefix=prefix, team_size=n)
    seed_requests(2 * n if requests is None else requests, services, prefix=prefix, team_size=n)
    return prefix


def test_api_service_list(client):
    counts = {}
    for n in SIZES:
        prefix = f"q{n}"
        seed_services(n, prefix=prefix, team_size=n)
        counts[n] = count_queries(client, "/api/v1/services/", **bearer(viewer(prefix)))
    assert_flat(counts)


def test_api_request_list(client):
    counts = {}
    for n in SIZES:
        prefix = team_with_requests(n)
        url = "/api/v1/failover-requests/?page_size=200"
        counts[n] = count_queries(client, url, **bearer(viewer(prefix)))
    assert_flat(counts)


def test_api_audit_list(client):
    auditor = get_user_model().objects.create(username="auditor")
    auditor.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    counts = {}
    for n in SIZES:
        seed_events(n, batch=500)
        url = "/api/v1/audit-events/?page_size=1000"
        counts[n] = count_queries(client, url, **bearer(auditor))
    assert_flat(counts)


def test_api_break_glass_list(client):
    counts = {}
    for n in SIZES:
        prefix = team_with_requests(n, requests=n)
        user, reviewer = viewer(prefix, "breakglass"), viewer(prefix, "identity")
        now = timezone.now()
        uses = BreakGlass.objects.bulk_create(
            BreakGlass(
                request=request,
                actor=user,
                justification="approvers unreachable during the outage",
                plan_hash=request.plan_hash,
                skipped_roles=["identity"],
                expires_at=now + timedelta(hours=1),
            )
            for request in FailoverRequest.objects.filter(service__slug__startswith=f"{prefix}-")
        )
        BreakGlassReview.objects.bulk_create(
            BreakGlassReview(
                break_glass=use, reviewer=reviewer, holds_approve_identity=True, comment="ok"
            )
            for use in uses
        )
        url = "/api/v1/break-glass/?page_size=200"
        counts[n] = count_queries(client, url, **bearer(user))
    assert_flat(counts)


@pytest.mark.parametrize("url", ["/", "/live/dashboard/"])
def test_dashboard(client, url):
    counts = {}
    for n in SIZES:
        prefix = team_with_requests(n)
        client.force_login(viewer(prefix))
        counts[n] = count_queries(client, url)
    assert_flat(counts)


def test_service_page(client):
    counts = {}
    for n in SIZES:
        prefix = f"q{n}"
        services = seed_services(1, prefix=prefix, team_size=1)
        seed_requests(n, services, prefix=prefix, team_size=1)
        Signal.objects.bulk_create(
            Signal(
                service=services[0],
                metric="error_rate",
                value=float(k),
                external_id=f"alert-{k}",
                received_at=timezone.now() - timedelta(seconds=k),
            )
            for k in range(n)
        )
        client.force_login(viewer(prefix))
        counts[n] = count_queries(client, f"/services/{services[0].slug}/")
    assert_flat(counts)
