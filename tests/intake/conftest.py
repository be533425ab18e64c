"""Integrations, signed requests and direct processing for the intake tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from failover.intake.integrations import create_integration
from failover.intake.services import process_delivery
from failover.models import Delivery
from failover.services import grant_authority
from tests.factories import make_service, user

URL = "/api/v1/integrations/{kind}/"


def make_integration(kind, name=None, *, rules=None, secret=None, account="pager-bot", **extra):
    """-> (integration, plain secret)."""
    user(account)
    return create_integration(
        actor=None,
        name=name or kind,
        kind=kind,
        account=account,
        rules=rules or {},
        secret=secret,
        **extra,
    )


def let_declare(service, username="pager-bot"):
    grant_authority(actor=None, service=service, authority="declare", user=user(username))


def sign(body: bytes, *secrets: str) -> str:
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


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
