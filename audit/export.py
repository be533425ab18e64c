"""Exporting the audit log for reviewers: JSON Lines or CSV, each row with its chain hashes,
so an export can be verified offline with audit/offline_verify.py (no database needed).

Every export ends with one trailer record saying how it ended, so a file cut short (a proxy
timeout, a full disk, a dropped connection) is told apart from a complete one:
- JSON Lines: a last line {"trailer": {"complete": true, "count": N, "last_seq": S,
  "last_hash": H}}; when the stream fails midway it is {"trailer": {"complete": false,
  "error": "...", "count": ..., ...}} with what was written before the failure.
- CSV: a last row with "trailer" in the seq column, a sentence for people in the action
  column and the same trailer as JSON in the data column (the header never changes).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator

from audit.chain import COLUMNS, timestamp
from audit.models import AuditEvent

log = logging.getLogger(__name__)


def events(*, object_type: str = "", object_ids=(), since=None, until=None, chunk_size=2000):
    queryset = AuditEvent.objects.order_by("seq")
    if object_type:
        queryset = queryset.filter(object_type=object_type)
    if object_ids:
        queryset = queryset.filter(object_id__in=[str(i) for i in object_ids])
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    return queryset.values_list(*COLUMNS).iterator(chunk_size=chunk_size)


class Tally:
    """What has been written so far; becomes the trailer. `error` is set when the stream
    failed, so a caller (the CLI) can also report the failure in its exit status."""

    def __init__(self) -> None:
        self.count, self.last_seq, self.last_hash, self.error = 0, None, None, ""

    def add(self, row: dict) -> None:
        self.count += 1
        self.last_seq, self.last_hash = row["seq"], row["hash"]

    def fail(self, exc: Exception) -> None:
        # Logged in full here; the file gets the kind and first line only.
        log.exception(
            "audit export failed after %d events (last seq %s)", self.count, self.last_seq
        )
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        self.error = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__

    def trailer(self) -> dict:
        trailer = {"complete": not self.error, "count": self.count}
        trailer.update(last_seq=self.last_seq, last_hash=self.last_hash)
        if self.error:
            trailer["error"] = self.error
        return trailer

    def sentence(self) -> str:
        events = "1 event" if self.count == 1 else f"{self.count} events"
        if self.error:
            return f"export FAILED after {events}: {self.error}"
        return f"export complete: {events}, last seq {self.last_seq}"


def _row(values) -> dict:
    row = dict(zip(COLUMNS, values, strict=True))
    row["created_at"] = timestamp(row["created_at"])
    return row


def _compact(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def jsonl(rows, tally: Tally | None = None) -> Iterator[str]:
    tally = tally if tally is not None else Tally()
    try:
        for values in rows:
            row = _row(values)
            line = json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n"
            tally.add(row)
            yield line
    except Exception as exc:  # a database error midway: say so in the file, not by stopping
        tally.fail(exc)
    yield json.dumps({"trailer": tally.trailer()}, sort_keys=True) + "\n"


def csv_lines(rows, tally: Tally | None = None) -> Iterator[str]:
    tally = tally if tally is not None else Tally()
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(COLUMNS)
    try:
        for values in rows:
            row = _row(values)
            row["data"] = _compact(row["data"])
            text = line([row[c] if row[c] is not None else "" for c in COLUMNS])
            tally.add(row)
            yield text
    except Exception as exc:  # a database error midway: say so in the file, not by stopping
        tally.fail(exc)
    last = dict.fromkeys(COLUMNS, "")
    last.update(seq="trailer", action=tally.sentence(), data=_compact(tally.trailer()))
    yield line([last[c] for c in COLUMNS])
