import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from audit.models import AuditEvent
from audit.verify import verify_chain
from failover.chain import authority_chain
from failover.demo.data import USERS
from failover.models import Service

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_complete():
    call_command("seed_demo")
    events = AuditEvent.objects.count()
    call_command("seed_demo")
    assert AuditEvent.objects.count() == events
    assert verify_chain().ok
    for username in ["admin", *USERS]:
        assert authenticate(username=username, password="demo") is not None, username
    chains = {s.slug: authority_chain(s) for s in Service.objects.all()}
    assert chains["checkout"].complete and chains["status-page"].complete
    assert chains["legacy-billing"].missing == ("approve_identity", "veto", "execute", "rollback")
    assert chains["checkout"].entry("veto").holders == ("identity",)


def test_demo_services_exercise_each_governance_shape():
    from approvals.selectors import verdict_for
    from failover.services import declare_request
    from tests.factories import user

    call_command("seed_demo")
    checkout = declare_request(
        actor=user("ic"),
        service=Service.objects.get(slug="checkout"),
        target="failover",
        reason="drill",
    )
    assert verdict_for(checkout).requires_incident_response
    status = declare_request(
        actor=user("ic"),
        service=Service.objects.get(slug="status-page"),
        target="backup",
        reason="drill",
    )
    verdict = verdict_for(status)
    assert not verdict.requires_incident_response
    assert [m.role for m in verdict.missing] == ["availability", "identity"]
