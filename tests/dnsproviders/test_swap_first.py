"""A change's first attempt submits at once: the provider's atomic swap is the compare. Route 53
(behind the strict proxy, which refuses batches as Route 53 does) refuses a DELETE that does not
match; the refusal is read to tell a change already in place from drift. Later attempts read
first. The gate is asked beside the claim in a worker, and still stops a vetoed change."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.models import Decision
from audit.models import AuditEvent
from dnsproviders import executor, tasks
from dnsproviders.models import DnsChange
from failover.models import FailoverRequest
from failover.services import declare_request
from tests.factories import approve_all, make_service, user
from tests.harness.route53 import live_values, upsert


@pytest.fixture
def svc(db, route53_account, hosted_zone):
    service = make_service(
        "swap",
        account=route53_account,
        zone=hosted_zone["name"],
        auth_change=False,
        policy={"execute_on_approval": True},
    )
    upsert(hosted_zone, f"swap.{hosted_zone['name']}", ["198.51.100.1"])
    return service


def approved(service) -> tuple[FailoverRequest, DnsChange]:
    request = declare_request(
        actor=user("declarer"), service=service, target="failover", reason="x"
    )
    approve_all(request, with_ir=False)
    return request, DnsChange.objects.get(request=request)


def calls(change) -> list[tuple[str, bool]]:
    events = AuditEvent.objects.filter(
        object_type="dnsproviders.dnschange", object_id=str(change.pk), action="dns.provider_call"
    ).order_by("seq")
    return [(e.data["call"], e.data["ok"]) for e in events]


def test_a_first_attempt_sends_the_swap_without_reading_first(svc, hosted_zone, proxy):
    request, change = approved(svc)
    before = proxy.stats["requests"]
    assert tasks.apply_change(change.pk) == "verified"
    assert calls(change) == [("submit", True), ("status", True), ("read", True)]
    assert proxy.stats["requests"] - before == 3 and proxy.stats["changes_forwarded"] == 1
    assert FailoverRequest.objects.get(pk=request.pk).state == "applied"
    assert live_values(hosted_zone, f"swap.{hosted_zone['name']}") == ["203.0.113.1"]


def test_a_refused_swap_over_drift_changes_nothing_and_names_it(svc, hosted_zone, proxy):
    request, change = approved(svc)
    name = f"swap.{hosted_zone['name']}"
    # Changed by hand after the plan. moto alone would still delete it: it held the plan's
    # expected value once.
    upsert(hosted_zone, name, ["192.0.2.9"])
    assert tasks.apply_change(change.pk) == "failed"
    change.refresh_from_db()
    assert change.error_code == "drift"
    assert "reads 192.0.2.9, plan expected 198.51.100.1" in change.error
    assert live_values(hosted_zone, name) == ["192.0.2.9"]
    assert proxy.stats["changes_forwarded"] == 0 and proxy.refused == 1
    # The refused batch and the read that named the drift are evidence too.
    assert calls(change) == [("submit", False), ("read", True), ("submit", False), ("read", True)]
    assert FailoverRequest.objects.get(pk=request.pk).state == "failed"


def test_a_refused_swap_over_records_already_as_planned_is_applied(svc, hosted_zone, proxy):
    request, change = approved(svc)
    name = f"swap.{hosted_zone['name']}"
    upsert(hosted_zone, name, ["203.0.113.1"])  # someone applied the same change by hand
    assert tasks.apply_change(change.pk) == "verified"
    assert proxy.stats["changes_forwarded"] == 0
    assert AuditEvent.objects.filter(action="dns.recovered", object_id=str(change.pk)).exists()
    assert FailoverRequest.objects.get(pk=request.pk).state == "applied"
    assert live_values(hosted_zone, name) == ["203.0.113.1"]


def test_a_later_attempt_reads_before_it_submits(svc, hosted_zone, proxy):
    _, change = approved(svc)
    executor._claim(change.pk)  # a worker claimed it and died: did its batch go out?
    DnsChange.objects.filter(pk=change.pk).update(lease_until=timezone.now() - timedelta(1))
    assert tasks.apply_change(change.pk) == "verified"
    assert calls(change) == [("read", True), ("submit", True), ("status", True), ("read", True)]
    assert proxy.stats["changes_forwarded"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_asks_the_gate_beside_the_claim_and_still_stops_a_veto(tmp_path, zone_dir):
    from tests.harness.broker import Broker
    from tests.harness.worker import Worker, wait_for

    service = make_service("gated", auth_change=False, policy={"execute_on_approval": True})
    broker = Broker(tmp_path / "broker").start()
    undo = broker.use_in_this_process()
    worker = None
    try:
        request, change = approved(service)  # no worker yet: the task waits in the broker
        # A veto that reached the database by a path other than the services layer.
        Decision.objects.create(
            request=request, actor=user("vetoer"), kind="veto", plan_hash=request.plan_hash
        )
        worker = Worker(broker, tmp_path, zone_dir).start()
        wait_for(
            lambda: DnsChange.objects.get(pk=change.pk).status == "failed",
            what="the worker to refuse the change",
        )
    finally:
        if worker:
            worker.stop()
        undo()
        broker.stop()
    change.refresh_from_db()
    assert change.error_code == "blocked" and "vetoed by vetoer" in change.error
    assert "198.51.100.1" in (zone_dir / "example.test.zone").read_text()
