"""Test settings: production settings with a throwaway key and a fast password hasher."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-secret-" + "k" * 40)
# Celery reads CELERY_BROKER_URL from the environment before any setting: tests that run
# workers bring brokers of their own (TEST_CELERY_BROKER_URL), so CI's must not leak in.
os.environ.pop("CELERY_BROKER_URL", None)

from failover.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405

# Tasks sent by tests that run no worker go nowhere; worker tests bring a broker of their own.
CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "memory://localhost/")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 900, "polling_interval": 0.1}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue = os.environ["TEST_CELERY_FS_DIR"]
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": _queue,
        "data_folder_out": _queue,
        "control_folder": _queue + "-control",
        "store_processed": False,
        "polling_interval": 0.1,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory, so a worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405
else:
    if os.environ.get("TEST_DATABASE_NAME"):
        # Two suites at once on one server need test databases of their own.
        DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}  # noqa: F405
    if role := os.environ.get("TEST_DATABASE_ASSUME_ROLE"):  # a worker started by a test
        DATABASES["default"].setdefault("OPTIONS", {})["assume_role"] = role  # noqa: F405
# The suite makes many calls a minute as one user; the throttling test sets its own limit.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"user": "100000/min", "anon": "100000/min"},
}
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]  # test clients, live servers, schemathesis
# Every error body is searched for the secrets tests create (tests/secrets_registry.py).
MIDDLEWARE = ["tests.secrets_registry.RecordErrorBodies", *MIDDLEWARE]  # noqa: F405
# No checkpoint store unless a test sets one (tests/audit/conftest.py) or a worker is given one:
# a `make run` in the same var dir would leave checkpoints under a key the tests do not know.
AUDIT_CHECKPOINT_DIR = os.environ.get("AUDIT_CHECKPOINT_DIR", "")
# Most tests' targets are documentation addresses: the readiness tests turn the veto on.
READINESS_SYSTEM_VETO = False
# The readiness and notification tests serve their targets on loopback; the outbound guard's
# own tests turn this off to prove the refusal.
OUTBOUND_ALLOW_NETWORKS = ["127.0.0.0/8", "::1/128"]
