"""The secrets the tests create, and the check that none of them leaks: into a log line, an
audit event or an error body (invariant 12 of the design).

`install()` hooks the creation paths in the test process, so every API token, webhook secret,
notification URL and signing key, TSIG key and AWS key a test makes is known without each test
naming it. Everything logged (`OutputHandler`) and every error body (`RecordErrorBodies`,
first in the tests' middleware) is kept per test and searched at the test's end; audit events
are searched at the end of each database test's body, while its rows still exist.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field

MIN_LENGTH = 12  # shorter "secrets" (the AWS "testing" of moto) would match ordinary words


@dataclass
class Registry:
    known: dict[str, str] = field(default_factory=dict)  # secret -> what it is
    _prefixes: dict[str, list[str]] = field(default_factory=dict)
    _output: dict[str, str] = field(default_factory=dict)  # text -> where it came from
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, value, what: str) -> None:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str) or len(value) < MIN_LENGTH:
            return
        with self._lock:
            if value not in self.known:
                self.known[value] = what
                self._prefixes.setdefault(value[:MIN_LENGTH], []).append(value)

    def find(self, text: str) -> list[str]:
        """What is leaked in `text`: one pass over it, however many secrets are known."""
        found = []
        for i in range(len(text) - MIN_LENGTH + 1):
            for secret in self._prefixes.get(text[i : i + MIN_LENGTH], ()):
                if text.startswith(secret, i):
                    found.append(f"{self.known[secret]} {secret[:6]}…")
        return found

    def record(self, text: str, where: str) -> None:
        with self._lock:
            self._output.setdefault(text, where)

    def leaks(self) -> list[str]:
        """Leaks in the output recorded since the last call (which forgets that output)."""
        with self._lock:
            output, self._output = self._output, {}
        return [
            f"{where}: {what} in {text[:300]!r}"
            for text, where in output.items()
            for what in self.find(text)
        ]


REGISTRY = Registry()


class OutputHandler(logging.Handler):
    """Keeps every log record's full text (message and traceback) for the search."""

    def __init__(self, registry: Registry):
        super().__init__()
        self.registry = registry
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.registry.record(self.format(record), f"log {record.name}")
        except Exception:  # a record that cannot be formatted is logging's problem, not ours
            self.handleError(record)


class RecordErrorBodies:
    """Test-only middleware (first in the list, so it sees every answer): error bodies."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code >= 400 and not response.streaming:
            body = response.content.decode("utf-8", "replace")
            REGISTRY.record(body, f"error body {response.status_code} {request.path}")
        return response


def attach_handler(handler: logging.Handler) -> None:
    """On the root logger and on every logger that does not pass its records up to it."""
    loggers = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in loggers:
        if handler not in logger.handlers:
            logger.addHandler(handler)


def _wrap(owner, name: str, register_from):
    original = getattr(owner, name)

    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        register_from(args, kwargs, result)
        return result

    wrapped.__wrapped__ = original
    setattr(owner, name, wrapped)


def install(registry: Registry = REGISTRY) -> None:
    """Hook the creation paths (call once, after Django is set up)."""
    from django.db.models.signals import post_save

    from approvals import tokens
    from dnsproviders.rfc2136.provider import Rfc2136Provider
    from dnsproviders.route53.provider import Route53Provider
    from failover.intake import credentials
    from failover.notify.models import NotificationEndpoint
    from failover.secrets import decrypt

    # API tokens: the plain token passes through the digest when created (and when checked).
    _wrap(tokens, "_digest", lambda args, kw, _: registry.register(args[0], "API token"))
    # Integration (webhook) secrets, generated or given, hashed or encrypted.
    _wrap(credentials, "stored", lambda args, kw, _: registry.register(args[1], "webhook secret"))
    # TSIG keys as the provider reads them (from the environment or a file).
    _wrap(
        Rfc2136Provider,
        "_key",
        lambda args, kw, key: registry.register(base64.b64encode(key.secret), "TSIG key"),
    )

    # AWS: the keys of the credential chain, and those an assumed role hands out.
    def aws_client(args, kwargs, _):
        given = kwargs.get("credentials") or (args[2] if len(args) > 2 else None) or {}
        for name in ("aws_secret_access_key", "aws_session_token"):
            registry.register(given.get(name), f"AWS {name}")

    _wrap(Route53Provider, "_client", aws_client)
    # Distinct values (moto accepts any), so a leak cannot hide behind a common word.
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "aws-test-secret-" + secrets.token_hex(12))
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        registry.register(os.environ.get(name), name)

    # Notification endpoints: the full URL (for Slack, a credential) and the signing key.
    def endpoint_saved(sender, instance, **kwargs):
        for encrypted, what in (
            (instance.url_encrypted, "notification URL"),
            (instance.secret, "notification signing key"),
        ):
            try:
                registry.register(decrypt(encrypted) if encrypted else None, what)
            except ValueError:
                continue

    post_save.connect(endpoint_saved, sender=NotificationEndpoint, weak=False)


def audit_leaks(registry: Registry = REGISTRY) -> list[str]:
    """Secrets in the audit events of the test database as it is now."""
    from audit.models import AuditEvent

    found = []
    for row in AuditEvent.objects.values("seq", "action", "object_id", "data"):
        for what in registry.find(json.dumps(row, default=str)):
            found.append(f"audit event #{row['seq']} {row['action']}: {what}")
    return found


# --- the pytest side, called from tests/conftest.py ---

HANDLER = OutputHandler(REGISTRY)
SESSION_LEAKS: list[str] = []


def session_start() -> None:
    install()
    attach_handler(HANDLER)


def after_test_body(item) -> None:
    """Fail a database test whose audit events hold a secret (before its rows are gone)."""
    uses_db = "_django_db_helper" in item.fixturenames or item.get_closest_marker("django_db")
    if not uses_db:
        return
    from django.db import DatabaseError

    try:
        found = audit_leaks()
    except (RuntimeError, DatabaseError):  # no database access after all, or a broken one
        return
    if found:
        raise AssertionError("secrets in the audit log:\n" + "\n".join(found))


def after_teardown(*, failed: bool) -> None:
    """Fail the test whose logs or error bodies hold a secret."""
    found = REGISTRY.leaks()
    attach_handler(HANDLER)  # again, in case a test configured logging anew
    if found and failed:
        SESSION_LEAKS.extend(found)  # the teardown's own error is shown; these at the end
    elif found:
        raise AssertionError("secrets in logs or error bodies:\n" + "\n".join(found))


def session_finish(session) -> None:
    SESSION_LEAKS.extend(REGISTRY.leaks())
    if SESSION_LEAKS:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.section("secrets leaked", red=True)
            for line in SESSION_LEAKS:
                reporter.line(line)
        session.exitstatus = 1
