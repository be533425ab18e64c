"""A drill on each real provider path (issue 17): Route 53 (moto, behind the fault proxy) and
RFC 2136 (a real BIND). The drill record goes absent -> the target's values -> absent through
the same compare-and-swap; the governed record reads the same before, during and after."""

import pytest

from approvals.services import record_decision
from dnsproviders.models import ProviderAccount
from failover.models import FailoverRequest, RecordValue, Target
from failover.plans import drill_name
from failover.services import declare_request
from tests.dnsproviders import bind
from tests.factories import make_service, run_worker, user

pytestmark = pytest.mark.django_db


def drill_through(service, during) -> FailoverRequest:
    """Declare a drill, approve it; `during()` runs once the drill record is set (the worker
    stopped after the failover direction), then the worker finishes: back and closed."""
    drill = declare_request(
        actor=user("declarer"), service=service, target="failover", reason="drill", drill=True
    )
    for who, role in (("avail", "availability"), ("identity", "identity")):
        record_decision(
            actor=user(who),
            request_id=drill.pk,
            kind="approve",
            role=role,
            plan_hash=drill.plan_hash,
        )
    # The failover direction alone first: its change verified, the rollback queued.
    from dnsproviders import tasks

    (forward,) = drill.changes.filter(direction="failover")
    for _ in range(20):
        forward.refresh_from_db()
        if forward.status in ("verified", "failed"):
            break
        if forward.status in ("queued", "submitting"):
            tasks.apply_change(forward.pk)
        else:
            tasks.poll_change(forward.pk)
    assert forward.status == "verified", forward.error
    during()
    run_worker(drill)
    drill.refresh_from_db()
    return drill


def test_a_drill_on_route53_leaves_the_governed_record_alone(route53_account, hosted_zone):
    from tests.dnsproviders.test_route53 import live_values, upsert

    zone = hosted_zone["name"]
    service = make_service(
        "shop", account=route53_account, zone=zone, auth_change=False,
        policy={"execute_on_approval": True},
    )  # fmt: skip
    governed = f"shop.{zone}"
    upsert(hosted_zone, governed, ["198.51.100.1"])
    seen = {}

    def during():
        seen["governed"] = live_values(hosted_zone, governed)
        seen["drill"] = live_values(hosted_zone, drill_name(governed))

    drill = drill_through(service, during)
    assert drill.state == "closed", [c.error for c in drill.changes.all()]
    assert seen == {"governed": ["198.51.100.1"], "drill": ["203.0.113.1"]}
    assert live_values(hosted_zone, governed) == ["198.51.100.1"]
    assert live_values(hosted_zone, drill_name(governed)) == []
    assert Target.objects.get(service=service, active=True).name == "primary"


@pytest.mark.skipif(not bind.available(), reason="needs BIND 9: apt-get install bind9 bind9-utils")
def test_a_drill_through_bind_leaves_the_governed_record_alone(tmp_path, monkeypatch):
    server = bind.Bind(tmp_path / "bind", {"www": "192.0.2.1"}).start()
    try:
        monkeypatch.setenv("TEST_TSIG_SECRET", server.secret)
        account = ProviderAccount.objects.create(
            name="bind", kind="rfc2136", settings=server.settings("TEST_TSIG_SECRET")
        )
        service = make_service(
            "www", account=account, zone=bind.ZONE, auth_change=False,
            policy={"execute_on_approval": True},
        )  # fmt: skip
        RecordValue.objects.filter(target__name="primary").update(values=["192.0.2.1"])
        governed = f"www.{bind.ZONE}"
        seen = {}

        def during():
            seen["governed"] = server.query(governed)
            seen["drill"] = server.query(drill_name(governed))

        drill = drill_through(service, during)
        assert drill.state == "closed", [c.error for c in drill.changes.all()]
        assert seen == {"governed": ["192.0.2.1"], "drill": ["203.0.113.1"]}
        assert server.query(governed) == ["192.0.2.1"]
        assert server.query(drill_name(governed)) == []
    finally:
        server.stop()
