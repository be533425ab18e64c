import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from approvals.services import record_decision
from audit.models import AppendOnlyError, AuditEvent
from audit.services import record_event
from audit.verify import verify_chain
from failover.services import cancel_request, declare_request
from tests.tamper import tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(service, people):
    """A realistic sequence: declare, two approvals, a veto and its lift, a cancel."""
    request = declare_request(
        actor=people["declarer"],
        service=service,
        target="failover",
        reason="region down",
        incident_ref="INC-1",
    )
    for persona, kind, role, comment in [
        ("avail", "approve", "availability", ""),
        ("identity", "approve", "identity", "checked login"),
        ("vetoer", "veto", "", "wait for IdP failover"),
        ("vetoer", "lift_veto", "", ""),
    ]:
        record_decision(
            actor=people[persona],
            request_id=request.pk,
            kind=kind,
            role=role,
            plan_hash=request.plan_hash,
            comment=comment,
        )
    cancel_request(actor=people["declarer"], request_id=request.pk, reason="recovered")
    return request


def test_the_chain_verifies_after_a_realistic_sequence(history):
    result = verify_chain()
    assert result.ok
    assert result.verified == AuditEvent.objects.count() > 30
    call_command("verify_audit")


def test_editing_an_event_breaks_verification_at_that_event(history):
    victim = AuditEvent.objects.get(action="decision.veto")
    tamper(
        "UPDATE audit_auditevent SET data = %s WHERE id = %s",
        ['{"comment": "nothing to see"}', victim.pk],
    )
    result = verify_chain()
    assert not result.ok
    assert result.first_broken_seq == victim.seq
    assert result.verified == victim.seq - 1
    with pytest.raises(CommandError, match=f"BROKEN at event #{victim.seq}"):
        call_command("verify_audit")


def test_removing_an_event_breaks_verification(history):
    victim = AuditEvent.objects.get(action="decision.lift_veto")
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [victim.pk])
    result = verify_chain()
    assert (result.ok, result.first_broken_seq) == (False, victim.seq)


def test_removing_the_newest_event_is_noticed(history):
    victim = AuditEvent.objects.order_by("-seq").first()
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [victim.pk])
    assert not verify_chain().ok


def test_the_model_layer_refuses_updates_and_deletes(history):
    event = AuditEvent.objects.first()
    event.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_events_link_in_sequence(db):
    a = record_event(
        action="config.changed", object_type="x", object_id="1", data={"n": 1}, actor=None
    )
    b = record_event(
        action="config.changed", object_type="x", object_id="1", data={"when": a.created_at}
    )
    assert (a.seq + 1, a.hash) == (b.seq, b.prev_hash)
    assert a.prev_hash == "0" * 64
    assert a.actor == "system"
    assert isinstance(b.data["when"], str)
