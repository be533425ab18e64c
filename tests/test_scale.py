"""The bulk seeding behind `manage.py seed_scale` keeps what the services layer guarantees:
the audit chain verifies (continuing the events already there, and continued by later ones),
chains are complete, and a service has at most one active request."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from approvals.models import Decision
from audit.models import AuditEvent, ChainHead
from audit.services import record_event
from audit.verify import verify_chain
from failover.chain import authority_chains
from failover.models import FailoverRequest, Service
from failover.states import ACTIVE_STATES

pytestmark = pytest.mark.django_db


def test_seed_scale_continues_the_audit_chain_and_keeps_the_invariants(capsys):
    record_event(action="config.created", object_type="test", object_id="1")
    call_command("seed_scale", services=30, requests=90, events=1200, prefix="s")
    record_event(action="config.changed", object_type="test", object_id="2")

    result = verify_chain()
    assert result.ok, result
    assert result.verified == AuditEvent.objects.count() == 1202
    head = ChainHead.objects.get()
    assert (head.seq, head.hash) == AuditEvent.objects.values_list("seq", "hash").last()
    assert list(AuditEvent.objects.values_list("action", flat=True)[:1]) == ["config.created"]

    services = list(Service.objects.filter(slug__startswith="s-"))
    assert len(services) == 30
    assert all(chain.complete for chain in authority_chains(services).values())
    assert FailoverRequest.objects.count() == 90
    active = FailoverRequest.objects.filter(state__in=ACTIVE_STATES)
    assert active.exists()
    assert not active.values("service").annotate(n=Count("pk")).filter(n__gt=1).exists()
    for decision in Decision.objects.select_related("request"):
        assert decision.plan_hash == decision.request.plan_hash
    assert "seeded 30 services, 90 requests" in capsys.readouterr().out


def test_seed_scale_refuses_a_prefix_already_seeded():
    call_command("seed_scale", services=1, requests=0, events=0, prefix="once")
    with pytest.raises(CommandError, match="prefix 'once'"):
        call_command("seed_scale", services=1, requests=0, events=0, prefix="once")
