"""The verdict's one-query reading of what a chain lacks agrees with the whole chain."""

import pytest
from django.contrib.auth.models import Group

from approvals.selectors import verdict_for
from failover.chain import authority_chains, missing_authorities
from failover.services import declare_request
from tests.factories import make_service, user

pytestmark = pytest.mark.django_db


def test_missing_authorities_agree_with_the_whole_chains(service, people):
    partial = make_service("legacy", chain={"declare": ["d"], "veto": ["gone"]})
    gone = user("gone")
    gone.is_active = False
    gone.save()
    empty_group = make_service("hollow")
    # Every member of hollow's execute group leaves it: the group grants nothing.
    Group.objects.get(name="hollow execute").user_set.clear()
    services = [service, partial, empty_group]
    chains = authority_chains(services)
    found = missing_authorities(services)
    assert found == {s.pk: chains[s.pk].missing for s in services}
    assert found[service.pk] == ()
    assert "veto" in found[partial.pk] and "declare" not in found[partial.pk]
    assert found[empty_group.pk] == ("execute",)


def test_a_request_is_blocked_when_its_chain_loses_a_holder(service, people):
    request = declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu-west-1 down"
    )
    assert not [b for b in verdict_for(request).blocked_by if b.code == "incomplete_chain"]
    for name in ("vetoer", "vetoer2"):
        people[name].is_active = False
        people[name].save()
    (block,) = [b for b in verdict_for(request).blocked_by if b.code == "incomplete_chain"]
    assert "veto" in block.reason
