"""Opsgenie alert-action webhook: mapping (pure). Authenticated by a shared-secret header the
Opsgenie webhook integration adds to every request (rules: `secret_header`, default below).

Create -> a firing signal, Close -> resolves it, Acknowledge and other actions are recorded
only. Service, metric and value come from the alert's details (`service`, `metric`,
`value`), falling back to the rules' `metric` and `value`; `services` maps names to slugs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
from failover.intake.tools.base import PagingTool, matches_digest

DEFAULT_SECRET_HEADER = "X-Failover-Secret"
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,100}$")


def secret_header(rules: Mapping) -> str:
    return text(rules.get("secret_header"), 100) or DEFAULT_SECRET_HEADER


def delivery_key(payload: Any) -> str:
    """Opsgenie retries a webhook it thinks failed: one alert's one action counts once."""
    payload = mapping(payload)
    alert_id = text(mapping(payload.get("alert")).get("alertId"), 100)
    action = text(payload.get("action"), 40)
    return f"og:{alert_id}:{action}" if alert_id and action else ""


def events(payload: Any, rules: Mapping) -> list[Event]:
    payload = mapping(payload)
    alert = payload.get("alert")
    action = text(payload.get("action"), 40)
    if not isinstance(alert, Mapping) or not action:
        raise BadPayload("not an Opsgenie alert-action webhook: no `action` and `alert`")
    alert_id = text(alert.get("alertId"), 100)
    if not alert_id:
        raise BadPayload("alert.alertId is missing")
    kind = {"Create": FIRE, "Close": RESOLVE}.get(action)
    if kind is None:
        return [Event(NOTE, alert_id, note=f"{action} recorded; it changes no signal")]
    details = mapping(alert.get("details"))
    service = text(details.get("service"), 80)
    value = number(details.get("value"))
    return [
        Event(
            kind,
            alert_id,
            service=service_slug(rules, service) if service else "",
            metric=text(details.get("metric") or rules.get("metric"), 30),
            value=value if value is not None else number(rules.get("value")),
            summary=text(alert.get("message")),
            incident_ref=f"opsgenie:{alert_id}",
        )
    ]


class Opsgenie(PagingTool):
    kind = "opsgenie"
    label = "Opsgenie"
    title = "Opsgenie alert-action"
    proves_by = f"a shared-secret header (default {DEFAULT_SECRET_HEADER})"
    rule_keys = frozenset({"secret_header"})

    def authenticate(self, *, secrets: Any, rules: Mapping, headers: Mapping, body: bytes) -> bool:
        return matches_digest(headers.get(secret_header(rules)), secrets)

    def auth_failure(self, rules: Mapping) -> str:
        return f"missing or wrong {secret_header(rules)} header"

    def secret_headers(self, rules: Mapping) -> set[str]:
        return {secret_header(rules).lower()}

    def rule_errors(self, rules: Mapping) -> dict[str, str]:
        given = rules.get("secret_header")
        if "secret_header" in rules and not (isinstance(given, str) and HEADER_NAME.match(given)):
            return {"rules.secret_header": "must be an HTTP header name (letters, digits, -)"}
        return {}

    def delivery_key(self, payload: Any, body: bytes) -> str:
        return delivery_key(payload)

    def events(self, payload: Any, rules: Mapping) -> list[Event]:
        return events(payload, rules)
