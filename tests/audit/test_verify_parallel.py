"""Verifying the chain in parallel parts gives the same answer as walking it in one process:
the same count when it holds, the same first broken event and reason when it does not."""

import pytest

from audit.models import AuditEvent
from audit.services import record_event
from audit.verify import verify_chain
from tests.tamper import tamper

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
EVENTS = 90


@pytest.fixture
def chain():
    for n in range(EVENTS):
        record_event(action="config.changed", object_type="x", object_id=str(n), data={"n": n})


def both() -> tuple:
    one = verify_chain(workers=1)
    parts = verify_chain(workers=3, min_parallel=1)
    return one, parts


def test_an_intact_chain_verifies_the_same_in_parts(chain):
    one, parts = both()
    assert one.ok and parts.ok and one.verified == parts.verified == EVENTS


@pytest.mark.parametrize("seq", [1, 30, 31, 45, 61, EVENTS])  # part edges of 3 x 30
def test_edited_content_is_found_at_the_same_event(chain, seq):
    tamper("UPDATE audit_auditevent SET data = '{\"n\": -1}' WHERE seq = %s", [seq])
    one, parts = both()
    assert not one.ok and one == parts
    assert (one.first_broken_seq, one.reason) == (seq, "content does not match its hash")


@pytest.mark.parametrize("seqs", [[31], [30], [31, 32, 33], list(range(31, 61)), [EVENTS]])
def test_missing_events_are_found_at_the_same_place(chain, seqs):
    tamper("DELETE FROM audit_auditevent WHERE seq = ANY(%s)", [seqs])
    one, parts = both()
    assert not one.ok and one == parts, (one, parts)
    assert one.verified == seqs[0] - 1


def test_a_rehashed_event_breaks_the_next_link_in_either_way(chain):
    """Re-hashing an edited event hides it from its own check, not from its successor's."""
    from audit.chain import stored_event_hash

    event = AuditEvent.objects.get(seq=30)
    event.data = {"n": "forged"}
    forged = stored_event_hash(event)
    tamper(
        'UPDATE audit_auditevent SET data = \'{"n": "forged"}\', hash = %s WHERE seq = 30',
        [forged],
    )
    one, parts = both()
    assert one == parts and (one.first_broken_seq, one.verified) == (31, 30)
