"""Events recorded inside `appended_at_end()` join the chain when the block ends: in the order
recorded, all or none, and without holding the chain head while the block works (issue 18:
the intake worker's batches)."""

import threading

import pytest
from django.db import connection, transaction

from audit.models import AuditEvent
from audit.services import appended_at_end, record_event
from audit.verify import verify_chain


def event(n):
    return record_event(action="config.changed", object_type="x", object_id=str(n), actor=None)


def test_events_join_the_chain_at_the_end_in_the_order_recorded(db):
    first = event(0)
    with transaction.atomic():
        with appended_at_end():
            held = [event(1), event(2), event(3)]
            assert AuditEvent.objects.filter(seq__gt=first.seq).count() == 0
            assert [e.seq for e in held] == [None, None, None]
        assert [e.seq for e in held] == [first.seq + 1, first.seq + 2, first.seq + 3]
    stored = AuditEvent.objects.filter(seq__gt=first.seq).order_by("seq")
    assert [e.object_id for e in stored] == ["1", "2", "3"]
    assert [(e.seq, e.hash) for e in stored] == [(e.seq, e.hash) for e in held]
    assert verify_chain().ok
    assert event(4).prev_hash == held[-1].hash and verify_chain().ok


def test_a_block_that_raises_appends_nothing(db):
    before = AuditEvent.objects.count()
    with pytest.raises(KeyError), transaction.atomic(), appended_at_end():
        event(1)
        raise KeyError("bug")
    assert AuditEvent.objects.count() == before
    assert event(2).seq == before + 1 and verify_chain().ok


def test_nested_blocks_append_once_at_the_outermost_end(db):
    with transaction.atomic(), appended_at_end():
        event(1)
        with appended_at_end():
            event(2)
        assert not AuditEvent.objects.exists()
    assert list(AuditEvent.objects.order_by("seq").values_list("object_id", flat=True)) == [
        "1",
        "2",
    ]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_refuses_to_start():
    with pytest.raises(RuntimeError, match="needs a transaction"), appended_at_end():
        pass


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_another_transaction_appends_while_a_block_works():
    """Without the deferral the block's first event locks the chain head until it commits,
    and every other append in the system waits behind the whole batch."""
    appended = threading.Event()

    def append_elsewhere():
        try:
            event("elsewhere")
            appended.set()
        finally:
            connection.close()

    with transaction.atomic(), appended_at_end():
        event("batch")
        other = threading.Thread(target=append_elsewhere)
        other.start()
        waited = appended.wait(10)
    other.join(30)
    assert waited, "the other append waited for the block's transaction"
    order = list(AuditEvent.objects.order_by("seq").values_list("object_id", flat=True))
    assert order == ["elsewhere", "batch"] and verify_chain().ok


def test_a_savepoint_rolled_back_inside_the_block_takes_its_events_with_it(db):
    with transaction.atomic(), appended_at_end():
        event("kept before")
        try:
            with transaction.atomic():
                event("rolled back")
                raise KeyError("caught by the caller, who carries on")
        except KeyError:
            pass
        with transaction.atomic():
            event("kept inside")
        event("kept after")
    kept = list(AuditEvent.objects.order_by("seq").values_list("object_id", flat=True))
    assert kept == ["kept before", "kept inside", "kept after"]
    assert verify_chain().ok
