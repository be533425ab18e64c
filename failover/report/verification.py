"""Is the audit evidence behind one report intact?

Two checks, both answered in a fixed number of queries:

* **The request's own events** (always): each event's hash is recomputed from its stored
  content, its `prev_hash` must be the stored hash of the event just before it (or the genesis
  hash for event #1), and the event just after it must name its hash (or, for the newest event,
  the chain head must). So an event of this request that was edited, re-hashed or removed, or
  a neighbour that was removed, is found — at the cost of one query for the neighbours and one
  for the chain head, whatever the size of the log.
* **The whole chain** (`audit.verify.verify_chain`), only while the log holds at most
  `FULL_CHAIN_LIMIT` events: it reads every event, which is cheap for the embedded default and
  for a young installation but not something a page view should do on a log of millions. Past
  the limit the report says the whole chain was not walked and names `manage.py verify_audit`,
  which does exactly that (the per-request check above still runs).

The report's verdict is `ok` only when every check that ran held.
"""

from __future__ import annotations

from collections.abc import Sequence

from audit.chain import GENESIS, stored_event_hash
from audit.models import AuditEvent, ChainHead
from audit.verify import verify_chain

FULL_CHAIN_LIMIT = 20_000


def _own_events(events: Sequence[AuditEvent], head: ChainHead | None) -> dict:
    """Hash and both links of each of the request's events, oldest first; stops at the first
    that does not hold."""
    seqs = {e.seq for e in events}
    wanted = {s + step for s in seqs for step in (-1, 1)} - seqs - {0}
    known = {e.seq: (e.prev_hash, e.hash) for e in events}
    if wanted:
        rows = AuditEvent.objects.filter(seq__in=sorted(wanted)).values_list(
            "seq", "prev_hash", "hash"
        )
        known.update({seq: (prev, own) for seq, prev, own in rows})
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS)
    verified = 0
    for event in events:
        reason = _problem(event, known, head_seq, head_hash)
        if reason:
            return {"ok": False, "verified": verified, "first_broken_seq": event.seq, **reason}
        verified += 1
    return {"ok": True, "verified": verified, "first_broken_seq": None, "reason": ""}


def _problem(event: AuditEvent, known: dict, head_seq: int, head_hash: str) -> dict | None:
    if stored_event_hash(event) != event.hash:
        return {"reason": "content does not match its hash"}
    if event.seq == 1:
        if event.prev_hash != GENESIS:
            return {"reason": "the first event does not start from the genesis hash"}
    elif event.seq - 1 not in known:
        return {"reason": f"event #{event.seq - 1} before it is missing"}
    elif known[event.seq - 1][1] != event.prev_hash:
        return {"reason": "previous-hash link does not match"}
    after = known.get(event.seq + 1)
    if after is not None:
        if after[0] != event.hash:
            return {"reason": f"event #{event.seq + 1} does not name this event's hash"}
    elif head_seq > event.seq:
        return {"reason": f"event #{event.seq + 1} after it is missing"}
    elif head_seq != event.seq or head_hash != event.hash:
        return {"reason": "the chain head does not end at this event"}
    return None


def verify_report_events(events: Sequence[AuditEvent]) -> dict:
    """The verification section of a report, for the request's events in seq order."""
    head = ChainHead.objects.filter(pk=1).first()
    own = _own_events(events, head)
    size = head.seq if head is not None else 0
    if size <= FULL_CHAIN_LIMIT:
        result = verify_chain()
        chain = {
            "checked": True,
            "ok": result.ok,
            "verified": result.verified,
            "first_broken_seq": result.first_broken_seq,
            "reason": result.reason,
            "note": "",
        }
    else:
        chain = {
            "checked": False,
            "ok": None,
            "verified": 0,
            "first_broken_seq": None,
            "reason": "",
            "note": f"the log holds {size} events, more than a report walks "
            f"({FULL_CHAIN_LIMIT}); run `manage.py verify_audit` for the whole chain",
        }
    ok = own["ok"] and chain["ok"] is not False
    broken = own if not own["ok"] else chain if chain["ok"] is False else None
    return {
        "ok": ok,
        "verified": own["verified"],
        "events": len(events),
        "first_broken_seq": broken["first_broken_seq"] if broken else None,
        "reason": (
            ("this request's events: " if broken is own else "whole chain: ") + broken["reason"]
            if broken
            else ""
        ),
        "request_events": own,
        "chain": chain,
    }
