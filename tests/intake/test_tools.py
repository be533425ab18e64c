"""One registry of paging tools: every door, schema operation and service step asks the tool
of the integration's kind, so a tool added to the registry works without touching them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from failover.errors import InvalidInput
from failover.intake import services, tools
from failover.intake.events import FIRE, Event, mapping, number, text
from failover.intake.models import Delivery
from failover.intake.tools.base import PagingTool, matches_digest
from failover.models import Signal
from tests.intake.conftest import URL, make_integration, process_all


def test_every_tool_has_its_door_and_its_schema_operation():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for tool in tools.TOOLS:
        path = URL.format(kind=tool.kind)
        assert reverse(f"intake-{tool.kind}") == path
        operation = schema["paths"][path]["post"]
        assert operation["summary"] == f"Receive a {tool.title} webhook"
        assert tool.proves_by in operation["description"]
    assert tools.kinds() == ["pagerduty", "alertmanager", "opsgenie"]  # the URLs' order


class Echo(PagingTool):
    """A made-up tool: a shared secret in X-Echo-Key; the body is one alert."""

    kind = "echo"
    label = "Echo"
    title = "Echo"
    proves_by = "an X-Echo-Key header"
    rule_keys = frozenset({"echo_metric"})

    def authenticate(self, *, secrets: Any, rules: Mapping, headers: Mapping, body: bytes) -> bool:
        return matches_digest(headers.get("X-Echo-Key"), secrets)

    def auth_failure(self, rules: Mapping) -> str:
        return "wrong X-Echo-Key"

    def secret_headers(self, rules: Mapping) -> set[str]:
        return {"x-echo-key"}

    def rule_errors(self, rules: Mapping) -> dict[str, str]:
        bad = "echo_metric" in rules and not isinstance(rules["echo_metric"], str)
        return {"rules.echo_metric": "must be a name"} if bad else {}

    def delivery_key(self, payload: Any, body: bytes) -> str:
        return "echo:" + text(mapping(payload).get("id"), 100)

    def events(self, payload: Any, rules: Mapping) -> list[Event]:
        payload = mapping(payload)
        return [
            Event(
                FIRE,
                text(payload.get("id"), 100),
                service=text(payload.get("service"), 80),
                metric=text(rules.get("echo_metric"), 30),
                value=number(payload.get("value")),
            )
        ]


@pytest.fixture
def echo(monkeypatch):
    monkeypatch.setitem(tools.REGISTRY, Echo.kind, Echo())


def test_a_tool_in_the_registry_is_set_up_authenticated_stored_and_processed(echo, shop):
    with pytest.raises(InvalidInput) as refused:
        make_integration("echo", rules={"echo_metric": 5})
    assert "rules.echo_metric" in refused.value.fields
    integration, secret = make_integration("echo", rules={"echo_metric": "error_rate"})
    body = json.dumps({"id": "a1", "service": "shop", "value": 9}).encode()

    with pytest.raises(services.Unauthenticated) as wrong:
        services.identify("echo", None, {"X-Echo-Key": "nope"}, body)
    assert "wrong X-Echo-Key" in wrong.value.reason
    headers = {"X-Echo-Key": secret, "X-Trace": "t1"}
    assert services.identify("echo", None, headers, body) == integration
    delivery = services.receive(integration, headers=headers, body=body)

    assert (delivery.external_id, delivery.headers) == ("echo:a1", {"X-Trace": "t1"})
    again = services.receive(integration, headers=headers, body=body)
    assert again.status == Delivery.Status.DUPLICATE
    process_all()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PROCESSED
    signal = Signal.objects.get()
    assert (signal.source, signal.metric, signal.value) == ("echo", "error_rate", 9)
