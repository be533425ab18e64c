"""The leak check itself: every creation path of a secret is known to it, and a secret in a
log line, an error body or an audit event is found. (The check runs around every test of the
suite: see tests/conftest.py and tests/secrets_registry.py.)"""

from __future__ import annotations

import base64
import logging
import secrets

import pytest
from django.db import transaction

from audit.services import record_event
from dnsproviders.rfc2136.provider import Rfc2136Provider
from failover.notify.models import NotificationEndpoint
from failover.secrets import encrypt
from tests.factories import make_service, user
from tests.harness.worker import Worker
from tests.intake.conftest import make_integration
from tests.secrets_registry import REGISTRY, audit_leaks
from tests.tokens import personal_token

pytestmark = pytest.mark.django_db

logger = logging.getLogger("failover.tests.leaky")


def test_every_creation_path_is_known():
    _, token = personal_token(user("ic"), name="pager")
    _, generated = make_integration("alertmanager")
    _, given = make_integration("pagerduty", secret="pd-signing-secret-" + "q" * 20)
    endpoint = NotificationEndpoint(service=make_service(), name="ops", secret=encrypt("s" * 24))
    endpoint.set_url("https://hooks.example.test/services/T0/B0/abcdefghijkl")
    endpoint.save()
    tsig = base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEAK_TEST_TSIG", tsig)
        Rfc2136Provider({"key_name": "k", "secret_env": "LEAK_TEST_TSIG"})._key()
    known = REGISTRY.known
    assert known[token] == "API token"
    assert known[generated] == known[given] == "webhook secret"
    assert known["https://hooks.example.test/services/T0/B0/abcdefghijkl"] == "notification URL"
    assert known["s" * 24] == "notification signing key"
    assert known[tsig] == "TSIG key"
    assert "AWS_SECRET_ACCESS_KEY" in known.values()


def test_a_secret_in_a_log_line_is_found():
    _, token = personal_token(user("ic"), name="pager")
    logger.warning("token %s rejected", token)
    leaks = REGISTRY.leaks()  # taken here, so this test's own check finds nothing more
    assert leaks == [
        f"log failover.tests.leaky: API token {token[:6]}… in "
        f"'WARNING failover.tests.leaky token {token} rejected'"
    ]


def test_a_secret_in_a_worker_processs_log_is_found(tmp_path):
    _, token = personal_token(user("ic"), name="pager")
    worker = Worker.__new__(Worker)  # its log, without starting a celery process
    worker.process, worker.log = None, tmp_path / "worker-1.log"
    worker.log.write_text(f"[INFO/ForkPoolWorker-1] calling with {token}\n")
    worker.stop()
    assert [leak.split(":")[0] for leak in REGISTRY.leaks()] == ["worker log worker-1.log"]


def test_a_secret_in_a_traceback_is_found():
    _, token = personal_token(user("ic"), name="pager")
    try:
        raise ValueError(f"bad {token}")
    except ValueError:
        logger.exception("failed")
    assert any("API token" in leak for leak in REGISTRY.leaks())


def test_a_secret_in_an_error_body_is_found(client):
    REGISTRY.register("path-secret-0123456789", "test secret")
    response = client.get("/api/v1/no-such/path-secret-0123456789/")
    assert response.status_code == 404
    assert any(
        leak.startswith("error body 404 /api/v1/no-such/") and "test secret" in leak
        for leak in REGISTRY.leaks()
    )


def test_a_secret_in_an_audit_event_is_found():
    _, token = personal_token(user("ic"), name="pager")
    assert audit_leaks() == []  # token.created names the token by its prefix only
    with transaction.atomic():
        record_event(action="config.changed", data={"oops": token})
        [leak] = audit_leaks()
        assert leak.endswith(f"config.changed: API token {token[:6]}…")
        transaction.set_rollback(True)  # so the suite's own check of this test passes


def test_short_values_are_not_secrets():
    REGISTRY.register("testing", "AWS moto default")
    assert "testing" not in REGISTRY.known
