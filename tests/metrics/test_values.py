"""The product's metrics say what the rows say: a request declared, approved and applied
through the services moves its counts and its histograms."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dnsproviders.models import DnsChange
from dnsproviders.ratelimit import acquire
from failover.intake.models import Delivery, Integration
from failover.models import FailoverRequest
from failover.services import declare_request
from tests.factories import approve_all, make_service, run_worker, user
from tests.metrics.scrape import scrape, value

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db):
    return make_service("shop", policy={"execute_on_approval": True})


def test_a_request_moves_the_counts_and_histograms(client, metrics_on, shop):
    before = scrape(client)
    assert value(before, "failover_requests", service="shop", state="pending") is None
    assert (
        value(before, "failover_time_to_quorum_seconds_count", service="shop", drill="false")
        is None
    )

    request = declare_request(actor=user("declarer"), service=shop, target="failover", reason="x")
    found = scrape(client)
    assert value(found, "failover_requests", service="shop", state="pending") == 1
    # Declared and waiting: its readiness checks and nothing else are outstanding.
    assert value(found, "failover_oldest_waiting_seconds", work="readiness_check") >= 0

    approve_all(request)
    found = scrape(client)
    assert value(found, "failover_requests", service="shop", state="executing") == 1
    assert value(found, "failover_requests", service="shop", state="pending") is None
    assert value(found, "failover_time_to_quorum_seconds_count", service="shop", drill="false") == 1
    assert (
        value(found, "failover_time_to_applied_seconds_count", service="shop", drill="false")
        is None
    )
    assert value(found, "failover_decisions", kind="approve") == 2
    assert value(found, "failover_decisions", kind="sign_off") == 1
    assert (
        value(
            found, "failover_dns_changes", provider="test-zones", kind="zonefile", status="queued"
        )
        == 1
    )
    assert value(found, "failover_waiting_work", work="dns_change") == 1

    run_worker(request)
    found = scrape(client)
    assert value(found, "failover_requests", service="shop", state="applied") == 1
    for stage in ("quorum", "applied", "verified"):
        assert (
            value(found, f"failover_time_to_{stage}_seconds_count", service="shop", drill="false")
            == 1
        )
        assert (
            value(
                found,
                f"failover_time_to_{stage}_seconds_bucket",
                service="shop",
                drill="false",
                le="+Inf",
            )
            == 1
        )
    assert (
        value(
            found, "failover_dns_changes", provider="test-zones", kind="zonefile", status="verified"
        )
        == 1
    )
    assert value(found, "failover_waiting_work", work="dns_change") == 0
    assert value(found, "failover_oldest_waiting_seconds", work="dns_change") == 0
    assert value(found, "failover_audit_events_total") > value(
        before, "failover_audit_events_total"
    )
    assert all(v == 1 for (name, _), v in found.items() if name == "failover_metrics_part_ok"), [
        k for k, v in found.items() if k[0] == "failover_metrics_part_ok" and v != 1
    ]


def test_the_histogram_buckets_place_each_duration(client, metrics_on, shop):
    request = declare_request(actor=user("declarer"), service=shop, target="failover", reason="x")
    declared = timezone.now() - timedelta(minutes=10)
    FailoverRequest.objects.filter(pk=request.pk).update(
        created_at=declared, approved_at=declared + timedelta(seconds=90)
    )
    found = scrape(client)
    bucket = "failover_time_to_quorum_seconds_bucket"
    assert value(found, bucket, service="shop", drill="false", le="60.0") == 0
    assert value(found, bucket, service="shop", drill="false", le="300.0") == 1
    assert value(
        found, "failover_time_to_quorum_seconds_sum", service="shop", drill="false"
    ) == pytest.approx(90)
    # Declared before the window: not counted.
    FailoverRequest.objects.filter(pk=request.pk).update(created_at=declared - timedelta(days=31))
    assert value(scrape(client), bucket, service="shop", le="+Inf") is None


def test_oldest_waiting_dns_change_and_provider_errors(client, metrics_on, shop):
    request = declare_request(actor=user("declarer"), service=shop, target="failover", reason="x")
    approve_all(request)
    DnsChange.objects.filter(request=request).update(
        created_at=timezone.now() - timedelta(minutes=5), error="throttled", error_code="Throttling"
    )
    found = scrape(client)
    assert 299 <= value(found, "failover_oldest_waiting_seconds", work="dns_change") <= 400
    errors = value(
        found,
        "failover_dns_change_errors",
        provider="test-zones",
        kind="zonefile",
        code="Throttling",
    )
    assert errors == 1


def test_intake_deliveries_by_outcome(client, metrics_on, shop):
    integration = Integration.objects.create(name="pager", kind="generic", account=user("bot"))
    for status in ("processed", "processed", "duplicate", "received"):
        Delivery.objects.create(integration=integration, body="{}", status=status)
    found = scrape(client)
    assert value(found, "failover_intake_deliveries", outcome="processed") == 2
    assert value(found, "failover_intake_deliveries", outcome="duplicate") == 1
    assert value(found, "failover_waiting_work", work="intake_delivery") == 1


def test_token_bucket_waits_are_counted(client, metrics_on):
    acquire("route53:metrics-test", rate=20, burst=1)  # the bucket's only token
    acquire("route53:metrics-test", rate=20, burst=1)  # sleeps ~50 ms for the next
    found = scrape(client)
    assert value(found, "failover_rate_limit_waits_total", bucket="route53:metrics-test") == 1
    waited = value(found, "failover_rate_limit_waited_seconds_total", bucket="route53:metrics-test")
    assert 0 < waited <= 0.06


def test_build_info_names_the_version(client, metrics_on):
    from importlib.metadata import version

    found = scrape(client)
    assert value(found, "failover_build_info", version=version("failover-approvals")) == 1


def test_past_max_services_the_rest_are_summed_as_others(client, metrics_on, shop, monkeypatch):
    from failover import metrics

    other = make_service("other-shop", policy={"execute_on_approval": True})
    for service in (shop, shop, other):
        request = declare_request(
            actor=user("declarer"), service=service, target="failover", reason="x"
        )
        approve_all(request)
        FailoverRequest.objects.filter(pk=request.pk).update(state="closed")
    monkeypatch.setattr(metrics, "MAX_SERVICES", 1)
    found = scrape(client)
    assert value(found, "failover_time_to_quorum_seconds_count", service="shop", drill="false") == 2
    assert (
        value(found, "failover_time_to_quorum_seconds_count", service="(others)", drill="false")
        == 1
    )
    assert (
        value(found, "failover_time_to_quorum_seconds_count", service="other-shop", drill="false")
        is None
    )
    assert value(found, "failover_requests", service="(others)", state="closed") == 1


def test_an_old_request_counts_while_active_only(client, metrics_on, shop):
    request = declare_request(actor=user("declarer"), service=shop, target="failover", reason="x")
    old = timezone.now() - timedelta(days=60)
    FailoverRequest.objects.filter(pk=request.pk).update(created_at=old)
    assert value(scrape(client), "failover_requests", service="shop", state="pending") == 1
    FailoverRequest.objects.filter(pk=request.pk).update(state="cancelled")
    assert value(scrape(client), "failover_requests", service="shop", state="cancelled") is None


def test_a_drill_is_timed_apart_from_incidents(client, metrics_on, shop, zone_dir):
    """Rehearsals must not flatter (or spoil) the incident figures: drill="true"."""
    drill = declare_request(
        actor=user("declarer"), service=shop, target="failover", reason="x", drill=True
    )
    approve_all(drill)
    run_worker(drill)
    found = scrape(client)
    for stage in ("quorum", "applied", "verified"):
        name = f"failover_time_to_{stage}_seconds_count"
        assert value(found, name, service="shop", drill="true") == 1
        assert value(found, name, service="shop", drill="false") is None
