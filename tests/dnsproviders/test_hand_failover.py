"""docs/operations.md, "When the control plane itself is down mid-incident": what the product
does with a failover made by hand at the provider once it is back. Declaring the same failover
is refused (the records already point there); marking the target active in the admin (an
audited configuration change) puts the product back in step, and the failback then goes
through the product as usual, compare-and-swapping from the values set by hand."""

import dns.zone
import pytest

from approvals.services import record_decision
from audit.models import AuditEvent
from dnsproviders import tasks
from dnsproviders.models import DnsChange, ProviderAccount
from dnsproviders.registry import provider_for
from failover.errors import InvalidInput
from failover.models import FailoverRequest, Target
from failover.planning import registry_plan
from failover.plans import by_zone
from failover.services import declare_request
from tests.factories import make_service, user

pytestmark = pytest.mark.django_db


def read_zone(zone_dir):
    return dns.zone.from_file(
        str(zone_dir / "example.test.zone"), origin="example.test.", relativize=False
    )


def serial(zone_dir) -> int:
    return read_zone(zone_dir).find_rdataset("example.test.", "SOA")[0].serial


def values(zone_dir, name: str) -> list[str]:
    return sorted(r.to_text() for r in read_zone(zone_dir).find_rdataset(name, "A"))


def change_by_hand(service) -> None:
    """What the on-call does at the provider while the product is down: the registry's change
    from primary to failover, sent straight to the provider (for Route 53: the console)."""
    primary = Target.objects.get(service=service, name="primary")
    failover = Target.objects.get(service=service, name="failover")
    plan = registry_plan(service, primary, failover, segment="")
    for (account, zone), changes in by_zone(plan["changes"]).items():
        provider = provider_for(ProviderAccount.objects.get(name=account))
        provider.submit(zone, changes, comment="by hand, incident 42")


def declare(service, target: str):
    return declare_request(actor=user("declarer"), service=service, target=target, reason="x")


def approve(request) -> None:
    for who, kind, role in [
        ("avail", "approve", "availability"),
        ("identity", "approve", "identity"),
        ("ir", "sign_off", "incident_response"),
    ]:
        record_decision(
            actor=user(who),
            request_id=request.pk,
            kind=kind,
            role=role,
            plan_hash=request.plan_hash,
        )


def test_declaring_the_failover_made_by_hand_is_refused_as_already_done(zone_dir):
    shop = make_service("shop", policy={"execute_on_approval": True})
    change_by_hand(shop)
    with pytest.raises(InvalidInput, match="already point at failover"):
        declare(shop, "failover")
    assert not FailoverRequest.objects.exists()


def test_after_the_admin_marks_the_target_active_the_failback_goes_through_the_product(zone_dir):
    shop = make_service("shop", policy={"execute_on_approval": True})
    change_by_hand(shop)
    # What the admin's target form saves (failover/admin.py, audited as config.changed).
    Target.objects.filter(service=shop).update(active=False)
    Target.objects.filter(service=shop, name="failover").update(active=True)
    before, by_hand = serial(zone_dir), values(zone_dir, "shop.example.test.")

    request = declare(shop, "primary")
    (planned,) = request.plan["changes"]
    assert planned["expected"] == by_hand  # read live: the values set by hand
    approve(request)
    (change,) = DnsChange.objects.filter(request=request)
    assert tasks.apply_change(change.pk) == "verified"

    assert serial(zone_dir) == before + 1
    assert FailoverRequest.objects.get(pk=request.pk).state == "applied"
    assert Target.objects.get(service=shop, active=True).name == "primary"
    assert values(zone_dir, "shop.example.test.") == sorted(planned["new"])
    assert AuditEvent.objects.filter(action="dns.provider_call").exists()
