#!/usr/bin/env python3
"""Verify an audit export (JSON Lines or CSV from `manage.py export_audit` or the API) with
nothing but Python: every event's hash is recomputed from its content, where events follow each
other (consecutive seq) each must name its predecessor's hash, and the file must end with the
export's trailer, whose count, last seq and last hash must match the events read.

    python3 audit/offline_verify.py export.jsonl               # or export.csv
    python3 audit/offline_verify.py --contiguous export.jsonl  # a full or time-range export:
                                                                # a missing event is an error
    python3 audit/offline_verify.py --allow-no-trailer old.jsonl  # exported before trailers

Against signed checkpoints, which prove the chain was not rewritten or cut by someone holding
the whole database (they are kept outside it: the checkpoint directory or the S3 bucket):

    python3 audit/offline_verify.py --checkpoints DIR --public-key KID:BASE64 export.jsonl

This needs three things and nothing else (no database, no secret):
- an export of the WHOLE chain (`manage.py export_audit`, no filters: it must start at event #1
  and have no gaps; a filtered export cannot show a cut);
- the checkpoint files, as written to AUDIT_CHECKPOINT_DIR or downloaded from the S3 bucket
  (`aws s3 cp --recursive s3://BUCKET/PREFIX DIR`): a directory or a file, --checkpoints
  repeated for several;
- the public key of every key that signed them, KID:BASE64 as `manage.py audit_keys public`
  prints it (repeat --public-key for retired keys). Public keys are not secret.
Checking signatures uses the `cryptography` package (pip install cryptography); without
--checkpoints nothing but the standard library is used.

Exit status 0 when everything holds; 1 with the first problem named otherwise: a broken event,
"truncated: no trailer" (the file was cut short), a trailer that disagrees with the events, or
an export that failed on the server (its error trailer's message); with checkpoints also
"cut: the chain ends at #N but checkpoint #S ... says it reached #S" (events removed from the
end, or all of them), "rewritten: event #S does not match checkpoint #S ..." (history changed
and re-hashed) and "forged checkpoint FILE: ..." (an unknown key or a bad signature).
The hash is sha256 over the canonical JSON (sorted keys, no spaces, UTF-8) of seq, created_at,
actor_id, actor, action, object_type, object_id, data, prev_hash — as audit/chain.py computes it.
The trailer is the last line {"trailer": {...}} in JSON Lines, and in CSV the last row, with
"trailer" in the seq column and the same trailer as JSON in the data column.
A checkpoint file is JSON {"body": TEXT, "signature": BASE64}: the Ed25519 signature is over
TEXT's UTF-8 bytes, and TEXT is the canonical JSON of {"seq", "hash", "signed_at", "key_id",
"previous"} (previous: the seq and hash of the checkpoint before it, or null).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import hashlib
import json
import os
import re
import sys
from typing import NamedTuple

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


def verify(path: str, *, contiguous: bool = False, allow_no_trailer: bool = False, seen=None):
    """(ok, events verified, reason): the first problem, or when ok a note ("" for none).
    `seen`, when given, is called with each event once it is verified."""
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
            if seen is not None:
                seen(row)
    except Unreadable as problem:
        return False, count, str(problem)
    if trailer is None:
        if allow_no_trailer:
            return True, count, "no trailer: completeness not checked"
        return False, count, "truncated: no trailer (the export was cut short)"
    reason = _check_trailer(trailer, count, previous)
    return not reason, count, reason


# --- Checkpoints: audit/checkpoints.py writes them, audit/evidence.py and this file check them
# with these same functions. ---

CHECKPOINT_NAME = re.compile(r"^(\d{20})\.json$")
KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Checkpoint(NamedTuple):
    """One signed checkpoint as read from a file or object (`name` says which, for reports)."""

    name: str
    seq: int
    hash: str
    signed_at: str
    key_id: str
    previous: dict | None
    body: str  # the exact signed text
    signature: str  # base64 Ed25519 over body's UTF-8 bytes


def checkpoint_name(seq: int) -> str:
    """Zero-padded, so names sort as seqs do (in a directory listing and in S3)."""
    return f"{seq:020d}.json"


def checkpoint_file(body: str, signature: str) -> bytes:
    return (json.dumps({"body": body, "signature": signature}, sort_keys=True) + "\n").encode()


def parse_key(text: str, size: int = 32) -> tuple[str, bytes]:
    """Parse KID:BASE64 (a public key, or a private seed) into (key id, the raw bytes)."""
    kid, sep, encoded = text.strip().partition(":")
    if not sep or not KEY_ID.match(kid):
        raise ValueError("expected KEY_ID:BASE64 (key id: letters, digits, . _ -; 64 at most)")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"key {kid!r}: not base64") from None
    if len(raw) != size:
        raise ValueError(f"key {kid!r}: {len(raw)} bytes, an Ed25519 key has {size}")
    return kid, raw


def read_checkpoint(name: str, data: bytes) -> Checkpoint:
    """The checkpoint in `data`; ValueError saying what is wrong with it. The signature is not
    checked here (signature_problem does)."""
    try:
        outer = json.loads(data)
        body, signature = outer["body"], outer["signature"]
        fields = json.loads(body)
        previous = fields["previous"]
        checkpoint = Checkpoint(
            name,
            fields["seq"],
            fields["hash"],
            fields["signed_at"],
            fields["key_id"],
            previous,
            body,
            signature,
        )
    except (ValueError, KeyError, TypeError) as problem:  # JSONDecodeError is a ValueError
        raise ValueError(f"unreadable ({type(problem).__name__}: {problem})") from None
    kinds = [
        (checkpoint.seq, int),
        (checkpoint.hash, str),
        (checkpoint.signed_at, str),
        (checkpoint.key_id, str),
        (checkpoint.signature, str),
    ]
    if isinstance(checkpoint.seq, bool) or not all(isinstance(v, k) for v, k in kinds):
        raise ValueError("unreadable (a field of the wrong type)")
    if previous is not None and not (
        isinstance(previous, dict) and isinstance(previous.get("seq"), int)
    ):
        raise ValueError("unreadable (previous is not {seq, hash} or null)")
    named = CHECKPOINT_NAME.match(re.split(r"[/\\]", name)[-1])
    if named and int(named.group(1)) != checkpoint.seq:
        raise ValueError(f"holds checkpoint #{checkpoint.seq} under another checkpoint's name")
    return checkpoint


def signature_problem(checkpoint: Checkpoint, public_keys: dict[str, bytes]) -> str:
    """Why the checkpoint is not to be trusted; empty when a known key signed its body."""
    key = public_keys.get(checkpoint.key_id)
    if key is None:
        return f"signed with an unknown key {checkpoint.key_id!r}"
    try:
        # Optional: only checkpoints need it, exports alone verify with the standard library.
        from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
            Ed25519PublicKey,
        )
    except ImportError:
        sys.exit("checking checkpoint signatures needs the `cryptography` package")
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        Ed25519PublicKey.from_public_bytes(key).verify(signature, checkpoint.body.encode())
    except (InvalidSignature, binascii.Error, ValueError):
        return f"bad signature (key {checkpoint.key_id!r})"
    return ""


def sort_checkpoints(readable, public_keys):
    """(valid checkpoints by seq, one copy each; problems as "forged checkpoint NAME: why")."""
    valid: dict[tuple[int, str], Checkpoint] = {}
    problems = []
    for checkpoint in readable:
        problem = signature_problem(checkpoint, public_keys)
        if problem:
            problems.append(f"forged checkpoint {checkpoint.name}: {problem}")
        else:
            valid.setdefault((checkpoint.seq, checkpoint.body), checkpoint)
    return [valid[key] for key in sorted(valid)], problems


def compare(checkpoints: list[Checkpoint], end: int, hashes: dict[int, str]):
    """(first broken seq, reason) for the first checkpoint the chain disagrees with, or
    (None, ""). `checkpoints`: valid ones by seq; `end`: the chain's last seq (0 when empty);
    `hashes`: the chain's hash at each checkpoint's seq up to `end`."""
    agreeing = None
    for checkpoint in checkpoints:
        signed = f"signed {checkpoint.signed_at}, key {checkpoint.key_id}"
        if checkpoint.seq > end:
            latest = checkpoints[-1]
            reason = (
                f"cut: the chain ends at #{end} but checkpoint #{checkpoint.seq} ({signed}) "
                f"says it reached #{checkpoint.seq}"
            )
            if latest.seq != checkpoint.seq:
                reason += (
                    f"; the latest, #{latest.seq} (signed {latest.signed_at}), says #{latest.seq}"
                )
            return end + 1, reason
        if hashes.get(checkpoint.seq) != checkpoint.hash:
            if agreeing is None:
                last = "none (no earlier checkpoint)"
            else:
                last = f"#{agreeing.seq} (signed {agreeing.signed_at})"
            missing = " (the event is missing)" if checkpoint.seq not in hashes else ""
            return checkpoint.seq, (
                f"rewritten: event #{checkpoint.seq}{missing} does not match checkpoint "
                f"#{checkpoint.seq} ({signed}); the last checkpoint that agrees is {last}"
            )
        agreeing = checkpoint
    return None, ""


def checkpoint_files(paths):
    """Every checkpoint file under the given directories and files, in name order."""
    for path in paths:
        if os.path.isdir(path):
            for entry in sorted(os.listdir(path)):
                if entry.endswith(".json") and not entry.startswith("."):
                    yield os.path.join(path, entry)
        else:
            yield path


def verify_checkpoints(path: str, checkpoint_paths, public_keys, *, allow_no_trailer=False):
    """(ok, events verified, reason, note) for an export of the whole chain and checkpoints."""
    readable, problems = [], []
    for file_name in checkpoint_files(checkpoint_paths):
        try:
            with open(file_name, "rb") as handle:
                readable.append(read_checkpoint(file_name, handle.read()))
        except OSError as problem:
            problems.append(f"checkpoint {file_name} cannot be read: {problem.strerror}")
        except ValueError as problem:
            problems.append(f"forged checkpoint {file_name}: {problem}")
    valid, forged = sort_checkpoints(readable, public_keys)
    wanted = {checkpoint.seq for checkpoint in valid}
    hashes: dict[int, str] = {}
    span = {"first": None, "last": 0}

    def seen(row):
        span["first"] = row["seq"] if span["first"] is None else span["first"]
        span["last"] = row["seq"]
        if row["seq"] in wanted:
            hashes[row["seq"]] = row["hash"]

    ok, count, reason = verify(path, contiguous=True, allow_no_trailer=allow_no_trailer, seen=seen)
    if not ok:
        return False, count, reason, ""
    if span["first"] not in (None, 1):
        return (
            False,
            count,
            (
                f"checkpoints need an export of the whole chain: this one starts at "
                f"#{span['first']}, not #1"
            ),
            "",
        )
    _, disagreement = compare(valid, span["last"], hashes)
    found = [disagreement] if disagreement else []
    found += problems + forged
    if found:
        more = f" (and {len(found) - 1} more problems)" if len(found) > 1 else ""
        return False, count, found[0] + more, ""
    if not valid:
        return (
            True,
            count,
            reason,
            (
                "no checkpoint was checked: this export is not protected against someone "
                "holding the database"
            ),
        )
    latest = valid[-1]
    note = (
        f"{len(valid)} checkpoints agree, the latest #{latest.seq} signed {latest.signed_at} "
        f"with key {latest.key_id}"
    )
    if span["last"] > latest.seq:
        note += f"; events #{latest.seq + 1}-#{span['last']} are newer than any checkpoint"
    return True, count, reason, note


def main(arguments) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("export", help="the export: .jsonl or .csv")
    parser.add_argument("--contiguous", action="store_true", help="a missing event is an error")
    parser.add_argument(
        "--allow-no-trailer", action="store_true", help="an export from before trailers"
    )
    parser.add_argument(
        "--checkpoints",
        action="append",
        default=[],
        metavar="DIR_OR_FILE",
        help="a checkpoint file or a directory of them, repeatable (the export must then hold "
        "the whole chain)",
    )
    parser.add_argument(
        "--public-key",
        action="append",
        default=[],
        metavar="KID:BASE64",
        help="a public key that signed checkpoints (repeat for retired keys)",
    )
    options = parser.parse_args(arguments)
    checkpoint_paths = options.checkpoints
    if options.public_key and not checkpoint_paths:
        parser.error("--public-key is used with --checkpoints")
    if not checkpoint_paths:
        ok, count, reason = verify(
            options.export,
            contiguous=options.contiguous,
            allow_no_trailer=options.allow_no_trailer,
        )
        note = ""
    else:
        if not options.public_key:
            parser.error("--checkpoints needs the public keys that signed them (--public-key)")
        try:
            keys = dict(parse_key(text) for text in options.public_key)
        except ValueError as problem:
            parser.error(f"--public-key: {problem}")
        ok, count, reason, note = verify_checkpoints(
            options.export, checkpoint_paths, keys, allow_no_trailer=options.allow_no_trailer
        )
    if not ok:
        print(f"BROKEN after {count} events: {reason}")  # noqa: T201
        return 1
    if reason:
        print(f"OK: {count} events verified ({reason})")  # noqa: T201
    else:
        print(f"OK: {count} events verified, trailer matches: the export is complete")  # noqa: T201
    if note:
        print(note)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
