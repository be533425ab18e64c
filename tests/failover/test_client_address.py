"""The client's address, not our proxy's: the sign-in audit (success and refusal) and log lines
read it through failover.clients.client_address — X-Forwarded-For only from our own proxies,
so a client reaching the app directly cannot choose the address it is recorded under."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from failover.logcontext import ContextFilter
from tests.harness.worker import ROOT

pytestmark = pytest.mark.django_db

PASSWORD = "right-horse-battery"
PROXY, CLIENT, DIRECT = "10.0.0.5", "198.51.100.7", "203.0.113.66"


@pytest.fixture(autouse=True)
def behind_the_proxy(settings):
    settings.SIGNIN_TRUST_X_FORWARDED_FOR = True  # what TRUST_X_FORWARDED_PROTO turns on


@pytest.fixture
def ic(db):
    return get_user_model().objects.create_user("ic", password=PASSWORD)


def sign_in(client, password, address, forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post(
        "/login/", {"username": "ic", "password": password}, REMOTE_ADDR=address, headers=headers
    )


def ip_of(action):
    return [e.data["ip"] for e in AuditEvent.objects.filter(action=action).order_by("seq")]


def test_a_sign_in_through_the_proxy_records_the_client(client, ic):
    assert sign_in(client, PASSWORD, PROXY, forwarded=f"{CLIENT}, {PROXY}").status_code == 302
    assert ip_of("auth.signed_in") == [CLIENT]
    client.post("/logout/", REMOTE_ADDR=PROXY, headers={"X-Forwarded-For": CLIENT})
    assert ip_of("auth.signed_out") == [CLIENT]


def test_a_refused_sign_in_through_the_proxy_records_the_client(client, ic):
    assert sign_in(client, "guess", PROXY, forwarded=CLIENT).status_code == 400
    assert ip_of("auth.sign_in_failed") == [CLIENT]


def test_a_client_outside_our_proxies_cannot_choose_its_address(client, ic):
    assert sign_in(client, "guess", DIRECT, forwarded=CLIENT).status_code == 400
    assert sign_in(client, PASSWORD, DIRECT, forwarded=CLIENT).status_code == 302
    assert ip_of("auth.sign_in_failed") == [DIRECT]
    assert ip_of("auth.signed_in") == [DIRECT]


def test_without_a_trusted_proxy_the_connection_address_is_recorded(client, ic, settings):
    settings.SIGNIN_TRUST_X_FORWARDED_FOR = False
    assert sign_in(client, PASSWORD, PROXY, forwarded=CLIENT).status_code == 302
    assert ip_of("auth.signed_in") == [PROXY]


class Clients(logging.Handler):
    """The `client` field the app's handler gives each record (its filter, ContextFilter)."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(ContextFilter())
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.client)  # type: ignore[attr-defined]


def test_log_lines_carry_the_client_address(client):
    handler = Clients()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        client.get("/nope/", REMOTE_ADDR=PROXY, headers={"X-Forwarded-For": CLIENT})
        client.get("/nope/", REMOTE_ADDR=DIRECT, headers={"X-Forwarded-For": CLIENT})
    finally:
        logger.removeHandler(handler)
    assert handler.seen == [CLIENT, DIRECT]


def test_the_documented_proxy_setup_trusts_the_forwarded_address(tmp_path):
    """docker-compose.yml sets TRUST_X_FORWARDED_PROTO and nothing else about proxies: that
    alone must read X-Forwarded-For from a proxy on compose's network (a private address)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNIN_", "DEBUG"))}
    env.update(
        DJANGO_SETTINGS_MODULE="failover.settings",
        FAILOVER_VAR_DIR=str(tmp_path),
        SECRET_KEY="k" * 50,
        TRUST_X_FORWARDED_PROTO="true",
    )
    code = (
        "import django; django.setup()\n"
        "from django.test import RequestFactory\n"
        "from failover.clients import client_address\n"
        "r = RequestFactory().get('/', REMOTE_ADDR='172.18.0.3', HTTP_X_FORWARDED_FOR='"
        + CLIENT
        + "')\n"
        "print(client_address(r))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == CLIENT, done.stderr[-2000:]
