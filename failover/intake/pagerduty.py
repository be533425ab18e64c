"""PagerDuty Webhooks V3: signature check and event mapping (pure functions).

A subscription signs the raw body with HMAC-SHA256 and sends `X-PagerDuty-Signature:
v1=<hex>[,v1=<hex>...]` — several values while PagerDuty rotates the secret. We may also hold
several secrets during our own rotation, so any (secret, value) pair matching is enough.

Rules used: `services` (PagerDuty service id -> our slug), `metric` (default control_plane)
and `value` (default 1): an incident carries no measurement, so the integration says what
a triggered incident means.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
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

SIGNATURE_HEADER = "X-PagerDuty-Signature"
ID_HEADER = "X-Webhook-Id"


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


def delivery_key(payload: Any, webhook_id: str) -> str:
    """PagerDuty retries a delivery with the same X-Webhook-Id; without the header, the
    event's own id serves."""
    key = text(webhook_id, 190) or text(mapping(mapping(payload).get("event")).get("id"), 190)
    return f"pd:{key}" if key else ""


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
