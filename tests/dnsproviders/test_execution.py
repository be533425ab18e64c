"""Execution end to end through the services layer and the executor, on zone files (and Route
53 behind the fault proxy). The executor's steps are called as the worker would call them."""

from datetime import timedelta
from pathlib import Path

import dns.zone
import pytest
from django.utils import timezone

from approvals.execution import execute_request, rollback_request
from approvals.models import Decision
from approvals.services import record_decision
from audit.models import AuditEvent
from audit.verify import verify_chain
from dnsproviders import executor, tasks
from dnsproviders.models import DnsChange, RollbackCheck
from dnsproviders.registry import provider_for
from dnsproviders.rollback_checks import run_due_checks
from dnsproviders.sweeper import sweep
from failover.errors import Blocked, NotAuthorised, WrongState
from failover.models import FailoverRequest, Target
from failover.services import declare_request, record_signal, resolve_signal
from tests.factories import approve_all, make_service, run_worker, user

pytestmark = pytest.mark.django_db


def zone_value(zone_dir: Path, name: str) -> list[str]:
    zone = dns.zone.from_file(
        str(zone_dir / "example.test.zone"), origin="example.test.", relativize=False
    )
    rdataset = zone.get_rdataset(name, "A")
    return sorted(r.to_text() for r in rdataset) if rdataset else []


def serial(zone_dir: Path) -> int:
    zone = dns.zone.from_file(
        str(zone_dir / "example.test.zone"), origin="example.test.", relativize=False
    )
    return zone.find_rdataset(zone.origin, "SOA")[0].serial


def declare(service, who="declarer", **kw):
    return declare_request(actor=user(who), service=service, target="failover", reason="down", **kw)


def refreshed(request) -> FailoverRequest:
    request.refresh_from_db()
    return request


@pytest.fixture
def shop(db):
    return make_service("shop", policy={"execute_on_approval": True})


def test_the_last_approval_executes_and_the_zone_file_changes(shop, zone_dir):
    request = declare(shop)
    assert request.plan["changes"][0]["expected"] == ["198.51.100.1"]
    approve_all(request)
    assert refreshed(request).state == "executing"
    (change,) = DnsChange.objects.filter(request=request)
    assert (change.status, change.direction, change.plan_hash) == (
        "queued",
        "failover",
        request.plan_hash,
    )
    assert tasks.apply_change(change.pk) == "verified"  # a zone file is in sync at once
    request = refreshed(request)
    assert request.state == "applied" and request.applied_at
    assert zone_value(zone_dir, "shop.example.test.") == ["203.0.113.1"]
    change.refresh_from_db()
    assert change.provider_change_id == f"example.test@{serial(zone_dir)}"
    assert Target.objects.get(service=shop, active=True).name == "failover"
    events = AuditEvent.objects.filter(object_type="dnsproviders.dnschange").order_by("seq")
    steps = [(e.action, e.data.get("call", "")) for e in events]
    # Every call to the provider is evidence too: the submit (a first attempt's swap is its
    # own compare), the status poll, the read that verifies; each appended with its step.
    assert steps == [
        ("dns.provider_call", "submit"),
        ("dns.submitted", ""),
        ("dns.provider_call", "status"),
        ("dns.insync", ""),
        ("dns.provider_call", "read"),
        ("dns.verified", ""),
    ]
    after = events[4].data
    assert after["ok"] and after["result"] == {"shop.example.test. A": ["203.0.113.1"]}
    assert RollbackCheck.objects.filter(request=request).count() == 1
    assert verify_chain().ok


def test_execute_needs_the_execute_authority_and_a_clear_verdict(db):
    service = make_service("manual")
    request = declare(service)
    with pytest.raises(Blocked, match="availability approval missing"):
        execute_request(actor=user("executor"), request_id=request.pk)
    approve_all(request)
    assert refreshed(request).state == "approved"  # this policy waits for a person to execute
    for who in ("avail", "identity", "declarer", "rollbacker", "other"):
        with pytest.raises(NotAuthorised):
            execute_request(actor=user(who), request_id=request.pk)
    record_decision(
        actor=user("vetoer"),
        request_id=request.pk,
        kind="veto",
        plan_hash=request.plan_hash,
        comment="IdP cert expires tonight",
    )
    with pytest.raises(Blocked, match="vetoed by vetoer"):
        execute_request(actor=user("executor"), request_id=request.pk)
    assert not DnsChange.objects.exists()
    record_decision(actor=user("vetoer"), request_id=request.pk, kind="lift_veto")
    execute_request(actor=user("executor"), request_id=request.pk)
    with pytest.raises(WrongState):
        execute_request(actor=user("executor"), request_id=request.pk)
    assert DnsChange.objects.count() == 1


def test_a_lifted_veto_never_executes_by_itself(shop):
    """Invariant 13: lifting the last veto on a fully approved request moves no traffic;
    executing is a separate, confirmed act."""
    request = declare(shop)
    record_decision(
        actor=user("vetoer"),
        request_id=request.pk,
        kind="veto",
        plan_hash=request.plan_hash,
        comment="wait",
    )
    approve_all(request)
    assert refreshed(request).state == "approved"
    record_decision(actor=user("vetoer"), request_id=request.pk, kind="lift_veto")
    assert refreshed(request).state == "approved"
    assert not DnsChange.objects.filter(request=request).exists()
    execute_request(actor=user("executor"), request_id=request.pk)
    assert refreshed(request).state == "executing"


def test_preapproved_breach_lets_the_declarer_execute_alone(db, zone_dir):
    service = make_service(
        "status",
        mode="preapproved_thresholds",
        auth_change=False,
        thresholds=(("error_rate", "gte", 5.0),),
    )
    request = declare(service)
    with pytest.raises(NotAuthorised, match="no threshold is breached now"):
        execute_request(actor=user("declarer"), request_id=request.pk)
    record_signal(service=service, metric="error_rate", value=9.0, source="alertmanager")
    with pytest.raises(NotAuthorised):  # someone else's request: alone means the declarer
        execute_request(actor=user("avail"), request_id=request.pk)
    execute_request(actor=user("declarer"), request_id=request.pk)
    run_worker(request)
    assert refreshed(request).state == "applied"
    assert zone_value(zone_dir, "status.example.test.") == ["203.0.113.1"]


def test_drift_fails_the_change_and_keeps_the_out_of_band_value(shop, zone_dir):
    request = declare(shop)
    approve_all(request)
    account = DnsChange.objects.get().provider_account
    provider_for(account).submit(
        "example.test.",
        [
            {
                "name": "shop.example.test.",
                "type": "A",
                "ttl": 60,
                "set_identifier": "",
                "expected": ["198.51.100.1"],
                "new": ["192.0.2.77"],
            }
        ],
        comment="someone by hand",
    )
    run_worker(request)
    change = DnsChange.objects.get()
    assert change.status == "failed" and change.error_code == "drift"
    assert "record changed since plan, re-plan required" in change.error
    request = refreshed(request)
    assert request.state == "failed"
    assert zone_value(zone_dir, "shop.example.test.") == ["192.0.2.77"]
    assert Target.objects.get(service=shop, active=True).name == "primary"


def test_a_task_delivered_twice_makes_one_provider_change(shop, zone_dir):
    request = declare(shop)
    approve_all(request)
    change = DnsChange.objects.get()
    before = serial(zone_dir)
    assert tasks.apply_change(change.pk) == "verified"
    assert tasks.apply_change(change.pk) == "verified"  # second delivery: nothing to do
    assert tasks.poll_change(change.pk) == "verified"
    assert serial(zone_dir) == before + 1
    assert refreshed(request).state == "applied"


def test_a_worker_dying_after_submit_is_recovered_without_resubmitting(shop, zone_dir):
    request = declare(shop)
    approve_all(request)
    change = DnsChange.objects.get()
    claimed, _ = executor._claim(change.pk)
    provider_for(claimed.provider_account).submit(claimed.zone, claimed.changes, comment="x")
    # ...and the worker died here, before recording the submission.
    before = serial(zone_dir)
    assert tasks.apply_change(change.pk) == "held"  # its lease still runs
    DnsChange.objects.filter(pk=change.pk).update(lease_until=timezone.now() - timedelta(1))
    assert sweep()["apply"] == 1
    assert tasks.apply_change(change.pk) == "verified"
    assert serial(zone_dir) == before
    assert refreshed(request).state == "applied"
    assert AuditEvent.objects.filter(action="dns.recovered").count() == 1


def test_the_worker_refuses_to_submit_while_a_veto_stands(shop, zone_dir):
    request = declare(shop)
    approve_all(request)
    # A veto that reached the database by any path other than the services layer.
    Decision.objects.create(
        request=request,
        actor=user("vetoer"),
        kind="veto",
        plan_hash=request.plan_hash,
        comment="forged",
    )
    assert tasks.apply_change(DnsChange.objects.get().pk) == "blocked"
    assert zone_value(zone_dir, "shop.example.test.") == ["198.51.100.1"]
    assert refreshed(request).state == "failed"


def test_rollback_needs_rollback_authority_and_reverses_the_plan(shop, zone_dir):
    request = declare(shop)
    approve_all(request)
    run_worker(request)
    for who in ("executor", "avail", "declarer", "other"):
        with pytest.raises(NotAuthorised) as exc:
            rollback_request(actor=user(who), request_id=request.pk)
        assert exc.value.authority == "rollback"
    rollback_request(actor=user("rollbacker"), request_id=request.pk, reason="primary healthy")
    assert refreshed(request).state == "rolling_back"
    run_worker(request)
    assert refreshed(request).state == "rolled_back"
    assert zone_value(zone_dir, "shop.example.test.") == ["198.51.100.1"]
    assert Target.objects.get(service=shop, active=True).name == "primary"
    rollback = DnsChange.objects.get(direction="rollback")
    assert rollback.changes[0]["expected"] == ["203.0.113.1"]
    with pytest.raises(WrongState):
        rollback_request(actor=user("rollbacker"), request_id=request.pk)


def test_rollback_checks_propose_when_criteria_are_met(shop):
    request = declare(
        shop,
        rollback_criteria={
            "min_minutes_on_target": 10,
            "primary_healthy_minutes": 5,
            "decide_within_minutes": 60,
        },
    )
    signal = record_signal(service=shop, metric="error_rate", value=40)
    approve_all(request)
    run_worker(request)
    request = refreshed(request)
    check = RollbackCheck.objects.get(request=request)
    assert check.due_at == request.applied_at + timedelta(minutes=10)
    assert run_due_checks() == 0  # not due yet
    later = request.applied_at + timedelta(minutes=11)
    assert run_due_checks(now=later) == 1
    check.refresh_from_db()
    assert check.met is False and "still firing: error_rate=40" in check.result["reasons"]
    resolve_signal(signal_id=signal.pk)
    assert run_due_checks(now=later + timedelta(minutes=5, seconds=1)) == 1
    proposed = RollbackCheck.objects.filter(request=request, met=True).get()
    assert proposed.result["met"]
    assert refreshed(request).rollback_proposed_at is not None
    event = AuditEvent.objects.get(action="rollback.proposed")
    assert event.data["notify"] == ["rollbacker"]
    run_due_checks(now=request.applied_at + timedelta(minutes=61))
    assert AuditEvent.objects.filter(action="rollback.deadline_passed").count() == 1


def test_sweeper_resends_stale_queued_changes_only(shop):
    request = declare(shop)
    approve_all(request)
    assert sweep()["apply"] == 0  # fresh: its own task is on the way
    DnsChange.objects.filter(request=request).update(
        updated_at=timezone.now() - timedelta(seconds=30)
    )
    assert sweep()["apply"] == 1


def test_route53_segment_failover_through_faults(db, route53_account, hosted_zone, proxy):
    from failover.models import GovernedRecord, RecordValue
    from tests.harness.route53 import live_values, upsert

    zone = hosted_zone["name"]
    service = make_service(
        "seg",
        account=route53_account,
        zone=zone,
        auth_change=False,
        policy={"execute_on_approval": True},
    )
    GovernedRecord.objects.filter(service=service).delete()
    targets = {t.name: t for t in service.targets.all()}
    name = f"app.{zone}"
    for segment, ips in (
        ("enterprise", ("198.51.100.7", "203.0.113.7")),
        ("retail", ("198.51.100.8", "203.0.113.8")),
    ):
        record = GovernedRecord.objects.create(
            service=service,
            provider_account=route53_account,
            zone=zone,
            name=name,
            rtype="A",
            routing="weighted",
            set_identifier=segment,
            segment=segment,
            weight=50,
        )
        RecordValue.objects.create(record=record, target=targets["primary"], values=[ips[0]])
        RecordValue.objects.create(record=record, target=targets["failover"], values=[ips[1]])
        upsert(hosted_zone, name, [ips[0]], SetIdentifier=segment, Weight=50)
    request = declare(service, segment="enterprise")
    assert [c["set_identifier"] for c in request.plan["changes"]] == ["enterprise"]
    proxy.pending_polls = 2
    approve_all(request, with_ir=False)
    run_worker(request)
    assert refreshed(request).state == "applied"
    assert live_values(hosted_zone, name, "enterprise") == ["203.0.113.7"]
    assert live_values(hosted_zone, name, "retail") == ["198.51.100.8"]
    assert Target.objects.get(service=service, active=True).name == "primary"  # segment only


def test_fifty_changes_with_thirty_percent_faults_apply_exactly_once(
    db, route53_account, hosted_zone, proxy, settings
):
    from tests.harness.route53 import live_values, upsert

    settings.ROUTE53_RATE_PER_SECOND = 10_000  # the account limit has its own test

    zone = hosted_zone["name"]
    route53_account.settings.pop("hosted_zone_id")  # several zones: looked up by name
    route53_account.save()
    chain = {
        a: [p]
        for a, p in [
            ("declare", "d"),
            ("approve_availability", "a"),
            ("approve_identity", "i"),
            ("veto", "v"),
            ("execute", "e"),
            ("rollback", "r"),
        ]
    }
    requests = []
    for n in range(50):
        service = make_service(
            f"s{n}",
            account=route53_account,
            zone=zone,
            auth_change=False,
            chain=chain,
            policy={"execute_on_approval": True},
        )
        upsert(hosted_zone, f"s{n}.{zone}", ["198.51.100.1"])
        requests.append(declare(service, who="d"))
    proxy.fault_rate, proxy.pending_polls = 0.3, 1
    proxy.rng.seed(2026)
    for request in requests:
        for who, role in (("a", "availability"), ("i", "identity")):
            record_decision(
                actor=user(who),
                request_id=request.pk,
                kind="approve",
                role=role,
                plan_hash=request.plan_hash,
            )
    for _ in range(400):
        open_changes = DnsChange.objects.exclude(status__in=("verified", "failed"))
        if not open_changes.exists():
            break
        for change in open_changes:
            if change.status == "submitting":  # a dropped response left it claimed
                DnsChange.objects.filter(pk=change.pk).update(
                    lease_until=timezone.now() - timedelta(seconds=1)
                )
            if change.status in ("queued", "submitting"):
                tasks.apply_change(change.pk)
            else:
                tasks.poll_change(change.pk)
    faults = sum(proxy.stats[f] for f in ("throttle", "prior", "5xx", "drop_before", "drop_after"))
    assert faults > 20, proxy.stats
    assert DnsChange.objects.filter(status="verified").count() == 50, list(
        DnsChange.objects.filter(status="failed").values_list("error", flat=True)
    )
    assert proxy.stats["changes_forwarded"] == 50, proxy.stats  # one provider change per plan
    assert FailoverRequest.objects.filter(state="applied").count() == 50
    assert all(live_values(hosted_zone, f"s{n}.{zone}") == ["203.0.113.1"] for n in range(50))


def test_one_change_in_flight_per_zone(db, route53_account, hosted_zone, proxy, settings):
    from tests.harness.route53 import upsert

    settings.ROUTE53_RATE_PER_SECOND = 10_000
    zone = hosted_zone["name"]
    proxy.pending_polls = 100  # the first change stays PENDING
    changes = []
    for name in ("one", "two"):
        service = make_service(
            name,
            account=route53_account,
            zone=zone,
            auth_change=False,
            policy={"execute_on_approval": True},
        )
        upsert(hosted_zone, f"{name}.{zone}", ["198.51.100.1"])
        request = declare(service)
        approve_all(request, with_ir=False)
        changes.append(DnsChange.objects.get(request=request))
    assert tasks.apply_change(changes[0].pk) == "pending"
    assert tasks.apply_change(changes[1].pk) == "zone_busy"  # Route 53 would refuse it
    proxy.pending_polls = 0
    assert tasks.poll_change(changes[0].pk) == "verified"
    assert tasks.apply_change(changes[1].pk) == "verified"


def test_break_glass_over_a_named_veto_is_applied_but_a_later_veto_still_stops_it(zone_dir):
    from approvals.breakglass import break_glass

    shop = make_service("shop")
    request = declare(shop)
    veto = record_decision(
        actor=user("vetoer"), request_id=request.pk, kind="veto", comment="US IdP untested"
    )
    break_glass(
        actor=user("breakglass"),
        request_id=request.pk,
        justification="every approver is unreachable and checkout has been down for an hour",
        veto_justification="overriding vetoer: the US identity provider was tested yesterday",
    )
    (change,) = DnsChange.objects.filter(request=request)
    # A veto the break-glass use did not name (here: made by hand in the database, as the
    # services refuse vetoes on an executing request) still stops the worker.
    other = Decision.objects.create(
        request=request, actor=user("vetoer2"), kind="veto", comment="late", plan_hash=""
    )
    assert tasks.apply_change(change.pk) == "blocked"
    Decision.objects.filter(pk=other.pk).delete()
    DnsChange.objects.filter(pk=change.pk).update(status="queued", error="", error_code="")
    FailoverRequest.objects.filter(pk=request.pk).update(state="executing")
    assert tasks.apply_change(change.pk) == "verified"
    assert zone_value(zone_dir, "shop.example.test.") == ["203.0.113.1"]
    assert not Decision.objects.filter(lifts=veto).exists()  # overridden, not lifted
