"""The Route 53 adapter against a real HTTP endpoint (moto server behind the fault proxy)."""

import pytest

from dnsproviders.base import DriftError, ProviderError
from dnsproviders.route53.provider import Route53Provider
from tests.harness.route53 import live_values, upsert


def change(name, expected, new, **extra):
    return {
        "name": name,
        "type": "A",
        "ttl": 60,
        "set_identifier": "",
        "routing": "simple",
        "failover_role": "",
        "health_check_id": "",
        "weight": None,
        "expected": expected,
        "new": new,
        **extra,
    }


@pytest.fixture
def r53(proxy, hosted_zone):
    return Route53Provider(
        {
            "endpoint_url": proxy.url,
            "hosted_zone_id": hosted_zone["id"],
            "base_delay": 0.01,
            "max_attempts": 4,
        }
    )


def test_simple_record_swap(r53, hosted_zone):
    name = f"www.{hosted_zone['name']}"
    upsert(hosted_zone, name, ["192.0.2.1"])
    changes = [change(name, ["192.0.2.1"], ["192.0.2.2"])]
    assert r53.read(hosted_zone["name"], changes) == {(name, "A", ""): ["192.0.2.1"]}
    change_id = r53.submit(hosted_zone["name"], changes, comment="test")
    assert change_id.startswith("CFP")
    assert r53.status(hosted_zone["name"], change_id) == "INSYNC"
    assert live_values(hosted_zone, name) == ["192.0.2.2"]


def test_a_stale_expected_value_changes_nothing(r53, hosted_zone):
    name = f"www.{hosted_zone['name']}"
    upsert(hosted_zone, name, ["192.0.2.9"])  # changed behind the product's back
    with pytest.raises(ProviderError) as exc:
        r53.submit(hosted_zone["name"], [change(name, ["192.0.2.1"], ["192.0.2.2"])], comment="t")
    assert exc.value.permanent
    assert live_values(hosted_zone, name) == ["192.0.2.9"]


def test_failover_and_weighted_records_keep_their_routing(r53, hosted_zone):
    zone = hosted_zone["name"]
    name = f"app.{zone}"
    upsert(hosted_zone, name, ["192.0.2.1"], SetIdentifier="primary", Failover="PRIMARY")
    upsert(hosted_zone, name, ["192.0.2.50"], SetIdentifier="enterprise", Weight=100)
    changes = [
        change(
            name,
            ["192.0.2.1"],
            ["198.51.100.1"],
            set_identifier="primary",
            routing="failover",
            failover_role="PRIMARY",
        ),
        change(
            name,
            ["192.0.2.50"],
            ["198.51.100.50"],
            set_identifier="enterprise",
            routing="weighted",
            weight=100,
        ),
    ]
    assert r53.read(zone, changes) == {
        (name, "A", "primary"): ["192.0.2.1"],
        (name, "A", "enterprise"): ["192.0.2.50"],
    }
    r53.submit(zone, changes, comment="t")
    sets = hosted_zone["client"].list_resource_record_sets(HostedZoneId=hosted_zone["id"])
    by_id = {s.get("SetIdentifier"): s for s in sets["ResourceRecordSets"] if s["Name"] == name}
    assert by_id["primary"]["Failover"] == "PRIMARY"
    assert by_id["primary"]["ResourceRecords"] == [{"Value": "198.51.100.1"}]
    assert by_id["enterprise"]["Weight"] == 100


def test_throttling_is_retried_with_backoff(hosted_zone, proxy):
    r53 = Route53Provider(
        {
            "endpoint_url": proxy.url,
            "hosted_zone_id": hosted_zone["id"],
            "base_delay": 0.01,
            "max_attempts": 12,
        }
    )
    name = f"www.{hosted_zone['name']}"
    upsert(hosted_zone, name, ["192.0.2.1"])
    proxy.fault_rate, proxy.faults = 0.5, ("throttle", "prior")
    proxy.rng.seed(7)
    for _ in range(5):
        assert r53.read(hosted_zone["name"], [change(name, [], [])])
    assert proxy.stats["throttle"] + proxy.stats["prior"] > 0


def test_persistent_throttling_surfaces_as_a_retryable_error(r53, hosted_zone, proxy):
    proxy.fault_rate, proxy.faults = 1.0, ("throttle",)
    with pytest.raises(ProviderError) as exc:
        r53.read(hosted_zone["name"], [change(f"x.{hosted_zone['name']}", [], [])])
    assert not exc.value.permanent
    assert proxy.stats["throttle"] == 4


def test_pending_until_the_proxy_says_insync(r53, hosted_zone, proxy):
    name = f"www.{hosted_zone['name']}"
    upsert(hosted_zone, name, ["192.0.2.1"])
    proxy.pending_polls = 2
    change_id = r53.submit(
        hosted_zone["name"], [change(name, ["192.0.2.1"], ["192.0.2.3"])], comment="t"
    )
    assert [r53.status(hosted_zone["name"], change_id) for _ in range(3)] == [
        "PENDING",
        "PENDING",
        "INSYNC",
    ]


def test_zone_is_found_by_name(proxy, hosted_zone):
    r53 = Route53Provider({"endpoint_url": proxy.url})
    name = f"www.{hosted_zone['name']}"
    upsert(hosted_zone, name, ["192.0.2.1"])
    assert r53.read(hosted_zone["name"], [change(name, [], [])])[(name, "A", "")] == ["192.0.2.1"]
    with pytest.raises(ProviderError, match="no Route 53 hosted zone"):
        r53.read("nowhere.invalid.", [change("a.nowhere.invalid.", [], [])])


def test_assume_role_for_another_account(proxy, hosted_zone, moto_server):
    # moto's STS issues temporary credentials; Route 53 then runs with them.
    host, port = moto_server
    r53 = Route53Provider(
        {
            "endpoint_url": f"http://{host}:{port}",
            "hosted_zone_id": hosted_zone["id"],
            "role_arn": "arn:aws:iam::123456789012:role/dns-failover",
            "external_id": "tenant-42",
        }
    )
    name = f"www.{hosted_zone['name']}"
    upsert(hosted_zone, name, ["192.0.2.1"])
    assert r53.read(hosted_zone["name"], [change(name, [], [])])[(name, "A", "")] == ["192.0.2.1"]


def test_drift_error_names_what_changed():
    from dnsproviders.base import check_expected

    with pytest.raises(DriftError, match=r"reads 192\.0\.2\.9, plan expected 192\.0\.2\.1"):
        check_expected({("w.", "A", ""): ["192.0.2.9"]}, [change("w.", ["192.0.2.1"], ["1.1.1.1"])])


def live_rrset(hosted_zone, name):
    sets = hosted_zone["client"].list_resource_record_sets(
        HostedZoneId=hosted_zone["id"], StartRecordName=name, StartRecordType="A"
    )
    return next(s for s in sets["ResourceRecordSets"] if s["Name"] == name)


def test_a_live_ttl_other_than_the_registry_ttl_still_swaps(r53, hosted_zone):
    # Someone set TTL 300 in the console; the registry (and so the plan) says 60. Route 53's
    # DELETE must match the live set exactly: it is deleted as read, values checked first.
    name = f"www.{hosted_zone['name']}"
    upsert(hosted_zone, name, ["192.0.2.1"], TTL=300)
    changes = [change(name, ["192.0.2.1"], ["192.0.2.2"])]
    assert r53.read(hosted_zone["name"], changes) == {(name, "A", ""): ["192.0.2.1"]}
    r53.submit(hosted_zone["name"], changes, comment="ttl drift")
    rrset = live_rrset(hosted_zone, name)
    assert (rrset["ResourceRecords"], rrset["TTL"]) == ([{"Value": "192.0.2.2"}], 60)


def test_submit_without_a_read_reads_the_live_ttl_itself(r53, hosted_zone):
    name = f"www.{hosted_zone['name']}"
    upsert(hosted_zone, name, ["192.0.2.1", "192.0.2.5"], TTL=3600)
    r53.submit(
        hosted_zone["name"], [change(name, ["192.0.2.5", "192.0.2.1"], ["192.0.2.2"])], comment="t"
    )
    assert live_values(hosted_zone, name) == ["192.0.2.2"]


def test_a_ttl_other_than_the_registry_does_not_hide_a_value_change(r53, hosted_zone, proxy):
    # Compare-and-swap stays on values: a changed value with a changed TTL is refused before
    # anything is sent, and the out-of-band record stays.
    name = f"www.{hosted_zone['name']}"
    upsert(hosted_zone, name, ["192.0.2.9"], TTL=300)
    with pytest.raises(DriftError, match=r"reads 192\.0\.2\.9, plan expected 192\.0\.2\.1"):
        r53.submit(hosted_zone["name"], [change(name, ["192.0.2.1"], ["192.0.2.2"])], comment="t")
    assert live_values(hosted_zone, name) == ["192.0.2.9"]
    assert live_rrset(hosted_zone, name)["TTL"] == 300


def test_a_weighted_record_with_its_own_ttl_keeps_its_routing(r53, hosted_zone):
    zone = hosted_zone["name"]
    name = f"app.{zone}"
    upsert(hosted_zone, name, ["192.0.2.50"], SetIdentifier="enterprise", Weight=100, TTL=120)
    changes = [
        change(
            name,
            ["192.0.2.50"],
            ["198.51.100.50"],
            set_identifier="enterprise",
            routing="weighted",
            weight=100,
        )
    ]
    r53.read(zone, changes)
    r53.submit(zone, changes, comment="t")
    assert live_values(hosted_zone, name, "enterprise") == ["198.51.100.50"]


def test_a_failover_whose_live_ttl_differs_from_the_registry_is_applied(
    db, route53_account, hosted_zone, proxy
):
    # The registry says TTL 60; Route 53 holds 300 (set in the console). Re-planning would
    # build the same plan, so the swap itself must not depend on the TTL.
    from approvals.execution import execute_request
    from approvals.services import record_decision
    from failover.models import FailoverRequest
    from failover.services import declare_request
    from tests.factories import make_service, run_worker, user

    zone = hosted_zone["name"]
    service = make_service("ttl", account=route53_account, zone=zone, auth_change=False)
    name = f"ttl.{zone}"
    upsert(hosted_zone, name, ["198.51.100.1"], TTL=300)
    request = declare_request(
        actor=user("declarer"), service=service, target="failover", reason="x"
    )
    for who, role in (("avail", "availability"), ("identity", "identity")):
        record_decision(
            actor=user(who),
            request_id=request.pk,
            kind="approve",
            role=role,
            plan_hash=request.plan_hash,
        )
    execute_request(actor=user("executor"), request_id=request.pk)
    run_worker(request)
    request = FailoverRequest.objects.get(pk=request.pk)
    assert request.state == "applied", [c.error for c in request.changes.all()]
    rrset = live_rrset(hosted_zone, name)
    assert (rrset["ResourceRecords"], rrset["TTL"]) == ([{"Value": "203.0.113.1"}], 60)


def test_warming_up_reads_the_hosted_zone_once_and_takes_a_token(r53, proxy):
    """A worker's start opens the connection its first failover would open (and pays the
    account's rate limit for it like any call)."""
    taken = []
    r53.acquire = lambda: taken.append(1)
    r53.warm()
    assert proxy.stats["requests"] == 1 and taken == [1]


def test_warming_up_against_a_provider_that_fails_says_nothing(r53, proxy):
    proxy.fault_rate, proxy.faults = 1.0, ("5xx",)
    r53.warm()  # one try, nothing raised: the first change meets the fault and records it
    assert proxy.stats["requests"] == 1
    unreachable = Route53Provider({**r53.settings, "endpoint_url": "http://127.0.0.1:9"})
    unreachable.warm()
