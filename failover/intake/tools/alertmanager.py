"""Prometheus Alertmanager webhook (payload version 4): credentials and alert mapping (pure).

The receiver's http_config authenticates with `authorization: {credentials: <secret>}`
(sent as `Authorization: Bearer <secret>`) or `basic_auth: {password: <secret>}` (any user).

Each alert becomes one event, by its labels: the `service` label (rules: `service_label`)
mapped through the rules' `services` (default: the label is the slug), the `metric` label
(rules: `metric_label`, default metric `metric`) and the value from an annotation (rules:
`value_annotation`, default `value`; fallback rules `value`). The fingerprint is the
signal's external id, so a resolved alert finds the firing signal it ends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
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

LABEL_RULES = ("service_label", "metric_label", "value_annotation")


def credential(authorization: str) -> str | None:
    """The secret a request presents: a bearer token, or a basic-auth password."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


def _alerts(payload: Any) -> list:
    alerts = mapping(payload).get("alerts")
    if not isinstance(alerts, list):
        raise BadPayload("not an Alertmanager webhook: no `alerts` list")
    return alerts


def fingerprint(alert: Mapping) -> str:
    given = text(alert.get("fingerprint"), 100)
    if given:
        return given
    # Alertmanager always sends one; hand-made payloads may not: derive it from the labels.
    labels = json.dumps(mapping(alert.get("labels")), sort_keys=True, default=str)
    return "labels:" + hashlib.sha256(labels.encode()).hexdigest()[:32]


def delivery_key(payload: Any) -> str:
    """The same notification sent again (a retry, a repeat) gets the same key: its group and
    each alert's fingerprint, status and start. A re-fired alert starts anew: a new key."""
    try:
        alerts = _alerts(payload)
    except BadPayload:
        return ""
    parts = sorted(
        (fingerprint(a), text(a.get("status"), 20), text(a.get("startsAt"), 40))
        for a in alerts
        if isinstance(a, Mapping)
    )
    if not parts:
        return ""
    raw = json.dumps([text(payload.get("groupKey"), 1000), parts])
    return "am:" + hashlib.sha256(raw.encode()).hexdigest()


def events(payload: Any, rules: Mapping) -> list[Event]:
    alerts = _alerts(payload)
    if payload.get("version") not in (None, "4"):
        raise BadPayload(f"unsupported Alertmanager payload version {payload.get('version')!r}")
    group = text(payload.get("groupKey"), 190)
    service_label = text(rules.get("service_label") or "service", 100)
    metric_label = text(rules.get("metric_label") or "metric", 100)
    value_annotation = text(rules.get("value_annotation") or "value", 100)
    result = []
    for index, alert in enumerate(alerts):
        if not isinstance(alert, Mapping):
            result.append(Event(NOTE, f"alert {index}", note="not an object"))
            continue
        labels = mapping(alert.get("labels"))
        annotations = mapping(alert.get("annotations"))
        status = alert.get("status")
        # Any JSON may stand there: only a string can name a status (a list cannot be looked up).
        action = (
            {"firing": FIRE, "resolved": RESOLVE}.get(status) if isinstance(status, str) else None
        )
        if action is None:
            result.append(Event(NOTE, fingerprint(alert), note=f"unknown status {status!r}"))
            continue
        value = number(annotations.get(value_annotation))
        if value is None:
            value = number(rules.get("value"))
        service = text(labels.get(service_label), 80)
        result.append(
            Event(
                action,
                fingerprint(alert),
                service=service_slug(rules, service) if service else "",
                metric=text(labels.get(metric_label) or rules.get("metric"), 30),
                value=value,
                summary=text(
                    annotations.get("summary")
                    or annotations.get("description")
                    or labels.get("alertname")
                ),
                # A resolved alert without it can still be matched by its fingerprint alone.
                note="" if service or action == RESOLVE else f"no `{service_label}` label",
                incident_ref=f"alertmanager:{group}" if group else "",
            )
        )
    return result


class Alertmanager(PagingTool):
    kind = "alertmanager"
    label = "Prometheus Alertmanager"
    title = "Prometheus Alertmanager (version 4)"
    proves_by = "a bearer token or basic-auth password"
    rule_keys = frozenset(LABEL_RULES)

    def authenticate(self, *, secrets: Any, rules: Mapping, headers: Mapping, body: bytes) -> bool:
        return matches_digest(credential(headers.get("Authorization", "")), secrets)

    def auth_failure(self, rules: Mapping) -> str:
        return "missing or wrong bearer token / basic-auth password"

    def rule_errors(self, rules: Mapping) -> dict[str, str]:
        return {
            f"rules.{key}": "must be a non-empty name"
            for key in LABEL_RULES
            if key in rules and not (isinstance(rules[key], str) and rules[key].strip())
        }

    def delivery_key(self, payload: Any, body: bytes) -> str:
        return delivery_key(payload)

    def events(self, payload: Any, rules: Mapping) -> list[Event]:
        return events(payload, rules)
