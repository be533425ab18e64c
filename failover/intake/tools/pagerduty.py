"""PagerDuty Webhooks V3: signature check and event mapping (pure functions).

A subscription signs the raw body with HMAC-SHA256 and sends `X-PagerDuty-Signature:
v1=<hex>[,v1=<hex>...]` — several values while PagerDuty rotates the secret. We may also hold
several secrets during our own rotation, so any (secret, value) pair matching is enough.

Replays: the signature covers the body only, so the event time inside it (occurred_at) must
fall within INTAKE_REPLAY_WINDOW_SECONDS, and a delivery is the same one again when its
event id (or, without one, its body) is: see `replay_refusal` and `delivery_key`.

Rules used: `services` (PagerDuty service id -> our slug), `metric` (default control_plane)
and `value` (default 1): an incident carries no measurement, so the integration says what
a triggered incident means.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from failover.intake.events import (
    FIRE,
    NOTE,
    RESOLVE,
    BadPayload,
    Event,
    mapping,
    number,
    service_slug,
    text,
)
from failover.intake.tools.base import PagingTool, entries
from failover.secrets import decrypt, encrypt

SIGNATURE_HEADER = "X-PagerDuty-Signature"
CLOCK_SKEW = timedelta(minutes=5)  # how far ahead of our clock an event time may be


def signature_values(header: str) -> list[bytes]:
    values = []
    for part in (header or "").split(","):
        part = part.strip()
        if part.startswith("v1="):
            values.append(part[3:].strip().encode("utf-8", "replace"))
    return values


def signature_ok(body: bytes, header: str, keys: Iterable[str]) -> bool:
    values = signature_values(header)
    if not values:
        return False
    for key in keys:
        expected = hmac.new(key.encode(), body, hashlib.sha256).hexdigest().encode()
        # compare_digest on bytes: a non-ASCII header must not raise, only fail to match.
        if any(hmac.compare_digest(expected, value) for value in values):
            return True
    return False


def delivery_key(payload: Any, body: bytes) -> str:
    """What makes a delivery the same one again, read from the signed body only: the event's
    id (a retry repeats it), else the body's SHA-256. Never X-Webhook-Id: the signature does
    not cover headers, so a captured body replayed under a new id would count as new."""
    event_id = text(mapping(mapping(payload).get("event")).get("id"), 190)
    return f"pd:{event_id}" if event_id else "pd:sha256:" + hashlib.sha256(body).hexdigest()


def event_time(payload: Any) -> datetime | None:
    """The signed event.occurred_at (ISO 8601 with a zone), or None."""
    raw = text(mapping(mapping(payload).get("event")).get("occurred_at"), 40)
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def replay_refusal(payload: Any, *, now: datetime, window: timedelta) -> str | None:
    """Why a validly signed delivery must not be processed now, or None. A signature proves
    who wrote the body, not when it was sent: the event time inside it bounds a replay."""
    when = event_time(payload)
    if when is None:
        return "refused: no signed event time (event.occurred_at with a time zone)"
    if when < now - window:
        return (
            f"refused: the event occurred at {when.isoformat()}, more than "
            f"{int(window.total_seconds())} s ago (INTAKE_REPLAY_WINDOW_SECONDS); "
            "a late retry or a replay"
        )
    if when > now + CLOCK_SKEW:
        return (
            f"refused: the event occurred at {when.isoformat()}, more than "
            f"{int(CLOCK_SKEW.total_seconds())} s in the future"
        )
    return None


def events(payload: Any, rules: Mapping) -> list[Event]:
    event = mapping(payload).get("event")
    if not isinstance(event, Mapping):
        raise BadPayload("not a PagerDuty V3 webhook: no `event` object")
    event_type = text(event.get("event_type"), 100)
    if not event_type:
        raise BadPayload("event.event_type is missing")
    data = mapping(event.get("data"))
    incident_id = text(data.get("id"), 100)
    if not event_type.startswith("incident.") or event.get("resource_type", "incident") != (
        "incident"
    ):
        return [Event(NOTE, incident_id, note=f"{event_type} is not an incident event")]
    if not incident_id:
        raise BadPayload(f"{event_type}: event.data.id (the incident id) is missing")
    if event_type not in ("incident.triggered", "incident.resolved"):
        return [Event(NOTE, incident_id, note=f"{event_type} recorded; it changes no signal")]
    pd_service = text(mapping(data.get("service")).get("id"), 100)
    if not pd_service:
        raise BadPayload(f"{event_type}: event.data.service.id is missing")
    title = text(data.get("title")) or f"PagerDuty incident {incident_id}"
    urgency = text(data.get("urgency"), 20)
    return [
        Event(
            FIRE if event_type == "incident.triggered" else RESOLVE,
            incident_id,
            service=service_slug(rules, pd_service),
            metric=text(rules.get("metric") or "control_plane", 30),
            value=number(rules.get("value", 1)),
            summary=f"{title} ({urgency})" if urgency else title,
            incident_ref=f"pagerduty:{incident_id}",
        )
    ]


def hmac_keys(secrets: Any) -> list[str]:
    """The stored signing keys, decrypted; one encrypted under another key is skipped."""
    keys = []
    for token in entries(secrets, "fernet"):
        try:
            keys.append(decrypt(token))
        except ValueError:  # encrypted under another key: it cannot authenticate anything
            continue
    return keys


class PagerDuty(PagingTool):
    kind = "pagerduty"
    label = "PagerDuty (Webhooks V3)"
    title = "PagerDuty (Webhooks V3)"
    proves_by = "its X-PagerDuty-Signature (HMAC-SHA256 of the body)"
    generated_secret_note = (
        "PagerDuty signs with the secret it generates for the subscription; "
        "add that one with --rotate {name} --secret-stdin"
    )

    def store(self, plain: str) -> dict:
        # The HMAC key must be read back to check a signature: encrypted, not hashed.
        return {"fernet": encrypt(plain)}

    def authenticate(self, *, secrets: Any, rules: Mapping, headers: Mapping, body: bytes) -> bool:
        return signature_ok(body, headers.get(SIGNATURE_HEADER, ""), hmac_keys(secrets))

    def auth_failure(self, rules: Mapping) -> str:
        return "the X-PagerDuty-Signature does not match"

    def delivery_key(self, payload: Any, body: bytes) -> str:
        return delivery_key(payload, body)

    def replay_refusal(self, payload: Any, *, now: datetime, window: timedelta) -> str | None:
        return replay_refusal(payload, now=now, window=window)

    def events(self, payload: Any, rules: Mapping) -> list[Event]:
        return events(payload, rules)
