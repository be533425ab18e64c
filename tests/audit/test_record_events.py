"""Several events appended at once (one head lock, one INSERT): the chain is the same as if
each had been appended alone, the database's own append path accepts it, and listeners hear
of every event."""

import pytest
from django.db.models.signals import post_save

from audit.models import AuditEvent
from audit.services import Event, record_event, record_events
from audit.verify import verify_chain


def test_a_batch_links_in_order_and_verifies(db):
    first = record_event(action="config.changed", object_type="x", object_id="0", actor=None)
    batch = record_events(
        [
            Event("config.created", object_type="x", object_id="1", data={"n": 1}, actor=None),
            Event("config.changed", object_type="x", object_id="1", data={"n": 2}, actor=None),
            Event("config.deleted", object_type="x", object_id="1", actor=None),
        ]
    )
    assert [e.seq for e in batch] == [first.seq + 1, first.seq + 2, first.seq + 3]
    assert batch[0].prev_hash == first.hash
    assert [e.prev_hash for e in batch[1:]] == [e.hash for e in batch[:-1]]
    stored = list(AuditEvent.objects.filter(seq__gt=first.seq).values_list("seq", "hash"))
    assert stored == [(e.seq, e.hash) for e in batch]
    assert verify_chain().ok
    after = record_event(action="config.changed", object_type="x", object_id="2", actor=None)
    assert after.prev_hash == batch[-1].hash and verify_chain().ok


def test_listeners_hear_each_event_of_a_batch(db):
    heard = []

    def listen(sender, instance, created, **kwargs):
        heard.append((instance.seq, instance.action, created))

    post_save.connect(listen, sender=AuditEvent, dispatch_uid="test-batch-listener")
    try:
        batch = record_events(
            [Event("config.created", object_type="x", object_id="1", actor=None)] * 2
        )
    finally:
        post_save.disconnect(dispatch_uid="test-batch-listener", sender=AuditEvent)
    assert heard == [(e.seq, e.action, True) for e in batch]


def test_an_unknown_action_anywhere_in_a_batch_appends_nothing(db):
    before = AuditEvent.objects.count()
    with pytest.raises(ValueError, match="unknown audit action"):
        record_events(
            [
                Event("config.created", object_type="x", object_id="1", actor=None),
                Event("config.typo", object_type="x", object_id="1", actor=None),
            ]
        )
    assert AuditEvent.objects.count() == before
