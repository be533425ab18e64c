"""The whole verification of the audit log: the chain itself (audit/verify.py), then the chain
against the signed checkpoints read back from the stores outside the database.

The chain alone proves nothing to someone who doubts the database: whoever holds it can change
an event and recompute every later hash, or delete the newest events and rewind the head, and
the chain still verifies. The checkpoints are what they cannot forge. They are read from the
stores, never from the Checkpoint table (anyone holding the database can delete its rows).
Each must carry a valid signature of a known key (the signing key's or one in
AUDIT_VERIFY_KEYS), and the chain must have, at each checkpoint's seq, the hash it signed:
- a checkpoint beyond the chain's end: "cut" (the newest events, or all of them, are gone);
- a different hash at its seq: "rewritten" (named with the last checkpoint that agrees);
- an unknown key or a bad signature: "forged checkpoint <file or object>".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Max

from audit.checkpoint_store import StoreError, configured_stores
from audit.models import AuditEvent
from audit.offline_verify import compare, read_checkpoint, sort_checkpoints
from audit.signing import key_problem, public_keys
from audit.verify import verify_chain

CHUNK = 500  # seqs per query when reading the chain's hashes at the checkpoints
UNPROTECTED = "the audit chain is unprotected against someone holding the database"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    verified: int
    first_broken_seq: int | None = None
    reason: str = ""
    checkpoints: dict = field(default_factory=dict)


def verify_all(*, workers: int = 1, progress: Callable[[int], None] | None = None) -> Verdict:
    """The chain, then the chain against every checkpoint in every store."""
    extra = {"progress": progress} if progress is not None else {}
    chain = verify_chain(workers=workers, **extra)
    broken_seq, problem, summary = check_checkpoints()
    if not chain.ok:
        broken_seq = min(filter(None, (chain.first_broken_seq, broken_seq)), default=None)
        return Verdict(False, chain.verified, broken_seq, chain.reason, summary)
    if problem:
        return Verdict(False, chain.verified, broken_seq, problem, summary)
    return Verdict(True, chain.verified, None, "", summary)


def check_checkpoints() -> tuple[int | None, str, dict]:
    """(first broken seq, the problem or "", a summary for people and the API)."""
    stores = configured_stores()
    summary: dict = {
        "stores": [repr(store) for store in stores],
        "checked": 0,
        "latest": None,
        "problem": "",
        "problems": [],
        "warnings": [],
        "protected": False,
    }
    warnings = summary["warnings"]
    key = key_problem()
    if key:
        warnings.append(key)
    if not stores:
        warnings.append(f"no checkpoint store is configured: {UNPROTECTED}")
        return None, "", summary
    try:
        keys = public_keys()
    except ImproperlyConfigured as exc:  # a malformed AUDIT_VERIFY_KEYS: said, not fatal
        keys = {}
        warnings.append(str(exc))
    readable, problems = [], []
    for store in stores:
        try:
            for label, data in store.read_all():
                try:
                    readable.append(read_checkpoint(label, data))
                except ValueError as problem:
                    problems.append(f"forged checkpoint {label}: {problem}")
        except StoreError as exc:
            warnings.append(f"checkpoint store not read: {exc}")
        for name in getattr(store, "hidden", ()):
            warnings.append(f"{store.label(name)} was deleted (its locked version was read)")
    valid, forged = sort_checkpoints(readable, keys)
    end = AuditEvent.objects.aggregate(end=Max("seq"))["end"] or 0
    broken_seq, disagreement = compare(valid, end, _hashes([c.seq for c in valid if c.seq <= end]))
    problems = ([disagreement] if disagreement else []) + problems + forged
    summary["checked"] = len(valid)
    summary["forged"] = len(problems) - bool(disagreement)
    summary["problems"] = problems[:20]
    summary["problem"] = problems[0] if problems else ""
    if valid:
        latest = valid[-1]
        summary["latest"] = {
            "seq": latest.seq,
            "signed_at": latest.signed_at,
            "key_id": latest.key_id,
            "name": latest.name,
        }
        if not disagreement and end > latest.seq:
            warnings.append(
                f"events #{latest.seq + 1}-#{end} are newer than the latest checkpoint: not yet "
                "protected"
            )
    else:
        warnings.append(f"no checkpoint has been taken yet: {UNPROTECTED}")
    summary["protected"] = bool(valid) and not problems
    if problems and broken_seq is None:  # only forged files: the chain itself agrees
        return None, summary["problem"], summary
    return broken_seq, summary["problem"], summary


def _hashes(seqs: list[int]) -> dict[int, str]:
    """The chain's hash at each of `seqs`, a few hundred per query."""
    found: dict[int, str] = {}
    for start in range(0, len(seqs), CHUNK):
        rows = AuditEvent.objects.filter(seq__in=seqs[start : start + CHUNK])
        found.update(rows.values_list("seq", "hash"))
    return found
