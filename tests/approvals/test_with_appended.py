"""`with_appended`: a request's facts read just before a decision's events joined the audit
chain, made what a read after the append gives, or None when the events alone cannot say.
`with_decision`: the same from facts read before the decision, adding its row too."""

from __future__ import annotations

from types import SimpleNamespace

from approvals.fingerprints import PARTS, with_appended, with_decision

AT = len(PARTS) - 1 - PARTS.index("request_events")  # from the end of the facts
FACTS = ("row", *[f"part {i}" for i in range(len(PARTS))])


def event(seq: int, object_type: str = "failover.failoverrequest", object_id: str = "7"):
    return SimpleNamespace(seq=seq, object_type=object_type, object_id=object_id)


def test_the_newest_event_of_the_request_is_the_last_appended():
    left = with_appended(FACTS, 7, [event(41), event(42)])
    assert left is not None
    assert left[-1 - AT] == "42"
    assert [x for i, x in enumerate(left) if i != len(left) - 1 - AT] == [
        x for i, x in enumerate(FACTS) if i != len(FACTS) - 1 - AT
    ]


def test_nothing_appended_changes_nothing():
    assert with_appended(FACTS, 7, []) == FACTS


def test_events_about_anything_else_or_appended_later_cannot_be_told():
    assert with_appended(FACTS, 7, [event(41), event(42, "dnsproviders.dnschange", "3")]) is None
    assert with_appended(FACTS, 7, [event(41, object_id="8")]) is None
    assert with_appended(FACTS, 7, None) is None


DECISIONS = len(PARTS) - 1 - PARTS.index("decisions")


def test_a_decision_adds_its_row_and_its_event():
    facts = list(FACTS)
    facts[-1 - DECISIONS] = "2:30::0"  # two decisions, ids summing to 30, none voided
    left = with_decision(tuple(facts), 7, 19, [event(42)])
    assert left is not None
    assert left[-1 - DECISIONS] == "3:49::0" and left[-1 - AT] == "42"
    untouched = {len(FACTS) - 1 - DECISIONS, len(FACTS) - 1 - AT}
    assert [x for i, x in enumerate(left) if i not in untouched] == [
        x for i, x in enumerate(facts) if i not in untouched
    ]


def test_a_decision_that_wrote_more_than_its_event_cannot_be_told():
    facts = list(FACTS)
    facts[-1 - DECISIONS] = "0:0::0"
    assert with_decision(tuple(facts), 7, 1, [event(41), event(42)]) is None  # a transition
    assert with_decision(tuple(facts), 7, 1, [event(41, "dnsproviders.dnschange", "3")]) is None
    assert with_decision(tuple(facts), 7, 1, []) is None
    assert with_decision(tuple(facts), 7, 1, None) is None
