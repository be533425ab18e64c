"""Pure hashing of audit events: the same function writes and verifies the chain."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

GENESIS = "0" * 64
# An event as stored, read back and exported: the hashed fields, then its own hash.
COLUMNS = (
    "seq",
    "created_at",
    "actor_id",
    "actor",
    "action",
    "object_type",
    "object_id",
    "data",
    "prev_hash",
    "hash",
)


def normalise(data: Any) -> Any:
    """Round-trip through JSON so what is hashed is exactly what the database returns."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


# One encoder for every event: json.dumps with options builds a new encoder per call, which
# was a third of what verifying the chain cost.
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical(payload: dict[str, Any]) -> bytes:
    return _ENCODE(payload).encode()


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(
    *,
    seq: int,
    created_at: datetime,
    actor_id: int | None,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    data: Any,
    prev_hash: str,
) -> str:
    payload = {
        "seq": seq,
        "created_at": timestamp(created_at),
        "actor_id": actor_id,
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "data": data,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical(payload)).hexdigest()


def stored_event_hash(event: Any) -> str:
    """The hash an event (anything with the hashed columns as attributes) should carry."""
    return event_hash(**{name: getattr(event, name) for name in COLUMNS[:-1]})
