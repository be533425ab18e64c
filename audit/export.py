"""Exporting the audit log for reviewers: JSON Lines or CSV, each row with its chain hashes,
so an export can be verified offline with audit/offline_verify.py (no database needed)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from audit.chain import COLUMNS, timestamp
from audit.models import AuditEvent


def events(*, object_type: str = "", object_ids=(), since=None, until=None):
    queryset = AuditEvent.objects.order_by("seq")
    if object_type:
        queryset = queryset.filter(object_type=object_type)
    if object_ids:
        queryset = queryset.filter(object_id__in=[str(i) for i in object_ids])
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    return queryset.values_list(*COLUMNS).iterator(chunk_size=2000)


def _row(values) -> dict:
    row = dict(zip(COLUMNS, values, strict=True))
    row["created_at"] = timestamp(row["created_at"])
    return row


def jsonl(rows) -> Iterator[str]:
    for values in rows:
        yield json.dumps(_row(values), sort_keys=True, ensure_ascii=False) + "\n"


def csv_lines(rows) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for values in rows:
        buffer.seek(0)
        buffer.truncate()
        row = _row(values)
        row["data"] = json.dumps(
            row["data"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        writer.writerow([row[c] if row[c] is not None else "" for c in COLUMNS])
        yield buffer.getvalue()
