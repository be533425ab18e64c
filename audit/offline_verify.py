#!/usr/bin/env python3
"""Verify an audit export (JSON Lines or CSV from `manage.py export_audit` or the API) with
nothing but Python: every event's hash is recomputed from its content, where events follow each
other (consecutive seq) each must name its predecessor's hash, and the file must end with the
export's trailer, whose count, last seq and last hash must match the events read.

    python3 audit/offline_verify.py export.jsonl               # or export.csv
    python3 audit/offline_verify.py --contiguous export.jsonl  # a full or time-range export:
                                                                # a missing event is an error
    python3 audit/offline_verify.py --allow-no-trailer old.jsonl  # exported before trailers

Exit status 0 when everything holds; 1 with the first problem named otherwise: a broken event,
"truncated: no trailer" (the file was cut short), a trailer that disagrees with the events, or
an export that failed on the server (its error trailer's message).
The hash is sha256 over the canonical JSON (sorted keys, no spaces, UTF-8) of seq, created_at,
actor_id, actor, action, object_type, object_id, data, prev_hash — as audit/chain.py computes it.
The trailer is the last line {"trailer": {...}} in JSON Lines, and in CSV the last row, with
"trailer" in the seq column and the same trailer as JSON in the data column.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys

HASHED = (
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


class Unreadable(Exception):
    """A record that is neither a whole event nor a whole trailer."""


def event_hash(row: dict) -> str:
    payload = {key: row[key] for key in HASHED}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _with_last(items):
    """Each item with whether it is the last: a bad last record means the file was cut."""
    nothing = object()
    previous = nothing
    for item in items:
        if previous is not nothing:
            yield previous, False
        previous = item
    if previous is nothing:
        return
    yield previous, True


def _event_or_trailer(record) -> tuple[str, dict]:
    if not isinstance(record, dict):
        raise ValueError("not an object")
    if "trailer" in record:
        if not isinstance(record["trailer"], dict):
            raise ValueError("not a trailer")
        return "trailer", record["trailer"]
    missing = [key for key in (*HASHED, "hash") if key not in record]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    return "event", record


def _from_csv(row: dict) -> dict:
    if None in row or None in row.values():
        raise ValueError("not a whole row")
    if row["seq"] == "trailer":
        return {"trailer": json.loads(row["data"])}
    row["seq"] = int(row["seq"])
    row["actor_id"] = int(row["actor_id"]) if row["actor_id"] else None
    row["data"] = json.loads(row["data"])
    return row


def records(path: str):
    """("event", row) and ("trailer", dict) in file order; Unreadable for a damaged record."""
    csv.field_size_limit(2**31 - 1)  # an event's data may be larger than csv's 128 KiB default
    with open(path, encoding="utf-8", newline="") as handle:
        if path.endswith(".csv"):
            raw, parse = csv.DictReader(handle), _from_csv
        else:
            raw, parse = (line for line in handle if line.strip()), json.loads
        try:
            for number, (item, last) in enumerate(_with_last(raw), start=1):
                try:
                    yield _event_or_trailer(parse(item))
                except (ValueError, KeyError, TypeError) as problem:  # JSONDecodeError: ValueError
                    if last:
                        raise Unreadable("truncated: no trailer (the last record is cut)") from None
                    raise Unreadable(
                        f"record {number} is not an event or a trailer: {problem}"
                    ) from None
        except csv.Error as problem:
            raise Unreadable(f"not a readable CSV file: {problem}") from None


def _check_trailer(trailer: dict, count: int, last: dict | None) -> str:
    if trailer.get("complete") is not True:
        return f"the export failed on the server: {trailer.get('error', 'no reason given')}"
    expected = {
        "count": count,
        "last_seq": last["seq"] if last else None,
        "last_hash": last["hash"] if last else None,
    }
    for key, value in expected.items():
        if trailer.get(key) != value:
            return f"trailer says {key} {trailer.get(key)!r}, the events read give {value!r}"
    return ""


def verify(path: str, *, contiguous: bool = False, allow_no_trailer: bool = False):
    """(ok, events verified, reason): the first problem, or when ok a note ("" for none)."""
    count, previous, trailer = 0, None, None
    try:
        for kind, row in records(path):
            if trailer is not None:
                return False, count, "records after the trailer: the trailer must be last"
            if kind == "trailer":
                trailer = row
                continue
            if event_hash(row) != row["hash"]:
                return False, count, f"event #{row['seq']}: content does not match its hash"
            if contiguous and previous is not None and row["seq"] != previous["seq"] + 1:
                return False, count, f"events between #{previous['seq']} and #{row['seq']} missing"
            follows = previous is not None and row["seq"] == previous["seq"] + 1
            if follows and row["prev_hash"] != previous["hash"]:
                return False, count, f"event #{row['seq']}: does not follow #{previous['seq']}"
            count += 1
            previous = row
    except Unreadable as problem:
        return False, count, str(problem)
    if trailer is None:
        if allow_no_trailer:
            return True, count, "no trailer: completeness not checked"
        return False, count, "truncated: no trailer (the export was cut short)"
    reason = _check_trailer(trailer, count, previous)
    return not reason, count, reason


if __name__ == "__main__":
    flags = {"--contiguous", "--allow-no-trailer"}
    arguments = sys.argv[1:]
    paths = [a for a in arguments if a not in flags]
    if len(paths) != 1 or paths[0].startswith("-"):
        sys.exit(__doc__)
    ok, count, reason = verify(
        paths[0],
        contiguous="--contiguous" in arguments,
        allow_no_trailer="--allow-no-trailer" in arguments,
    )
    if not ok:
        print(f"BROKEN after {count} events: {reason}")  # noqa: T201
    elif reason:
        print(f"OK: {count} events verified ({reason})")  # noqa: T201
    else:
        print(f"OK: {count} events verified, trailer matches: the export is complete")  # noqa: T201
    sys.exit(0 if ok else 1)
