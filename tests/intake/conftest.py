"""Integrations, signed requests and direct processing for the intake tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from failover.intake.integrations import create_integration
from failover.intake.models import Delivery
from failover.intake.processing import process_delivery
from failover.models import Service
from failover.services import grant_authority
from tests.factories import make_service, user

URL = "/api/v1/integrations/{kind}/"


def make_integration(
    kind, name=None, *, rules=None, secret=None, account="pager-bot", services=None, **extra
):
    """-> (integration, plain secret). It may feed `services` (slugs that exist); by default
    the `shop` service when there is one (most tests feed it), else nothing."""
    user(account)
    if services is None:
        services = list(Service.objects.filter(slug="shop").values_list("slug", flat=True))
    return create_integration(
        actor=None,
        name=name or kind,
        kind=kind,
        account=account,
        rules=rules or {},
        secret=secret,
        services=services,
        **extra,
    )


def let_declare(service, username="pager-bot"):
    grant_authority(actor=None, service=service, authority="declare", user=user(username))


def sign(body: bytes, *secrets: str) -> str:
    """X-PagerDuty-Signature as PagerDuty computes it: `v1=` + hex HMAC-SHA256 of the raw
    body under each signing secret, comma-separated while it rotates."""
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def pd_time(delta: float = 0) -> str:
    """An event.occurred_at as PagerDuty writes it (UTC, milliseconds, Z), `delta` s from now."""
    when = datetime.now(UTC) + timedelta(seconds=delta)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def basic(password: str, username: str = "alertmanager") -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def post(client, kind, payload, *, query="", body=None, **headers):
    """POST a payload (dict -> JSON, or raw `body` bytes); headers as HTTP_* keywords."""
    data = body if body is not None else json.dumps(payload).encode()
    return client.post(
        URL.format(kind=kind) + query, data=data, content_type="application/json", **headers
    )


def process_all() -> list[str]:
    """What the worker would do: process every delivery still waiting."""
    waiting = Delivery.objects.filter(status="received").order_by("pk")
    return [process_delivery(pk) for pk in waiting.values_list("pk", flat=True)]


@pytest.fixture
def shop(db):
    """A pre-approved-thresholds service whose failover changes no auth path, so a breach
    alone lets the incident commander execute."""
    service = make_service(
        "shop",
        mode="preapproved_thresholds",
        auth_change=False,
        thresholds=(("error_rate", "gte", 5.0),),
    )
    let_declare(service)
    return service
