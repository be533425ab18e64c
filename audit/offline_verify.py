#!/usr/bin/env python3
"""Verify an audit export (JSON Lines or CSV from `manage.py export_audit` or the API) with
nothing but Python: every event's hash is recomputed from its content, and where events
follow each other (consecutive seq), each must name its predecessor's hash.

    python3 audit/offline_verify.py export.jsonl               # or export.csv
    python3 audit/offline_verify.py --contiguous export.jsonl  # a full or time-range export:
                                                                # a missing event is an error

Exit status 0 when everything holds; 1 with the first broken event named otherwise.
The hash is sha256 over the canonical JSON (sorted keys, no spaces, UTF-8) of seq, created_at,
actor_id, actor, action, object_type, object_id, data, prev_hash — as audit/chain.py computes it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys


def event_hash(row: dict) -> str:
    payload = {
        key: row[key]
        for key in (
            "seq",
            "created_at",
            "actor_id",
            "actor",
            "action",
            "object_type",
            "object_id",
            "data",
            "prev_hash",
        )
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def rows(path: str):
    with open(path, encoding="utf-8", newline="") as handle:
        if path.endswith(".csv"):
            for row in csv.DictReader(handle):
                row["seq"] = int(row["seq"])
                row["actor_id"] = int(row["actor_id"]) if row["actor_id"] else None
                row["data"] = json.loads(row["data"])
                yield row
        else:
            for line in handle:
                if line.strip():
                    yield json.loads(line)


def verify(path: str, *, contiguous: bool = False) -> tuple[bool, int, str]:
    count, previous = 0, None
    for row in rows(path):
        if event_hash(row) != row["hash"]:
            return False, count, f"event #{row['seq']}: content does not match its hash"
        if contiguous and previous is not None and row["seq"] != previous["seq"] + 1:
            return False, count, f"events between #{previous['seq']} and #{row['seq']} missing"
        follows = previous is not None and row["seq"] == previous["seq"] + 1
        if follows and row["prev_hash"] != previous["hash"]:
            return False, count, f"event #{row['seq']}: does not follow #{previous['seq']}"
        count += 1
        previous = row
    return True, count, ""


if __name__ == "__main__":
    arguments = sys.argv[1:]
    contiguous = "--contiguous" in arguments
    paths = [a for a in arguments if a != "--contiguous"]
    if len(paths) != 1:
        sys.exit(__doc__)
    ok, count, reason = verify(paths[0], contiguous=contiguous)
    print(f"OK: {count} events verified" if ok else f"BROKEN after {count} events: {reason}")  # noqa: T201
    sys.exit(0 if ok else 1)
