"""A worker's warm-up (dnsproviders/tasks.py): what its first failover would pay for, done
when it starts, without changing anything."""

import time

import pytest

from approvals.gate import warm_gate
from approvals.models import Decision
from audit.models import AuditEvent
from dnsproviders import executor
from dnsproviders.models import DnsChange
from failover import precompiled
from failover.models import FailoverRequest
from failover.services import declare_request
from tests.factories import approve_all, make_service, user
from tests.harness.worker import PreforkWorker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # the gate is asked on a thread of its own


def everything() -> tuple:
    return (
        AuditEvent.objects.count(),
        Decision.objects.count(),
        list(FailoverRequest.objects.values_list("pk", "state", "updated_at")),
        list(DnsChange.objects.values_list("pk", "status", "attempts", "updated_at")),
    )


def test_warming_up_with_no_request_yet_is_quiet():
    executor.warm(gate=warm_gate)


def test_warming_up_writes_the_first_failovers_queries_and_changes_nothing(monkeypatch):
    service = make_service("web", auth_change=False, policy={"execute_on_approval": True})
    request = declare_request(
        actor=user("declarer"), service=service, target="failover", reason="x"
    )
    approve_all(request, with_ir=False)  # executing, its change queued for a worker
    assert FailoverRequest.objects.get(pk=request.pk).state == "executing"
    monkeypatch.setattr(precompiled, "_kept", {})
    before = everything()
    executor.warm(gate=warm_gate)
    assert everything() == before
    written = {key for key, _, _ in precompiled._kept}
    assert {"claim-change", "claim-zone", "gate-change", "submit-request"} <= written
    assert len(written) >= 7, written  # and the rule's own reads: decisions, chain, readiness


def test_a_process_pool_warms_up_in_its_children_not_its_parent(
    broker, tmp_path, zone_dir, route53_account, proxy
):
    """The parent of a process pool runs no task: warming it up too cost each account one
    more Route 53 read (and rate-limit token) at every worker start, and held a connection."""
    worker = PreforkWorker(broker, tmp_path, zone_dir, concurrency=2).start()
    try:
        wait_for(lambda: proxy.stats["requests"] >= 2, what="the children's warm-up")
        time.sleep(1.5)  # the parent's would follow its "ready.", already logged
        assert proxy.stats["requests"] == 2
    finally:
        worker.stop()
