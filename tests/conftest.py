import pytest
import trustme
from django.db import connection

from tests import secrets_registry
from tests.factories import make_service, user
from tests.readiness.servers import SECRETS, ca_file


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def pytest_sessionstart(session):
    secrets_registry.session_start()  # knows every secret tests create; collects all logs


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    secrets_registry.after_test_body(item)  # no secret in the test's audit events
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    try:
        result = yield
    except BaseException:
        secrets_registry.after_teardown(failed=True)
        raise
    secrets_registry.after_teardown(failed=False)  # no secret in its logs or error bodies
    return result


def pytest_sessionfinish(session):
    secrets_registry.session_finish(session)


APP_ROLE = "failover_app_test"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """On PostgreSQL the suite runs as production's two roles: the session user (a superuser,
    the owner) migrates and empties tables between transactional tests; everything else runs
    as the app role (SET ROLE at each connection), with the rights `grant_app_role` gives."""
    if connection.vendor != "postgresql":
        yield
        return
    from audit import roles

    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute(
                f"DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN; "
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
        roles.grant(APP_ROLE)
        connection.settings_dict["OPTIONS"]["assume_role"] = APP_ROLE
        connection.close()
    yield
    with django_db_blocker.unblock():  # the owner drops the test database
        connection.settings_dict["OPTIONS"].pop("assume_role", None)
        connection.close()


@pytest.fixture(autouse=True, scope="session")
def flush_as_owner():
    """Between transactional tests Django empties every table with TRUNCATE: the app role may
    not, and the audit tables refuse it from anyone, so the owner steps past the triggers."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        if not statements:
            return statements
        role = self.connection.settings_dict["OPTIONS"].get("assume_role")
        before = ["RESET ROLE", "SET LOCAL session_replication_role = replica"]
        after = [f"SET ROLE {role}"] if role else []
        return [*before, *statements, *after]

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = original


@pytest.fixture(autouse=True)
def empty_cache():
    """Lockout counters (sign-in, step-up) live in the process-wide cache: no test inherits
    another's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def zone_dir(tmp_path, settings):
    """Each test gets zone files of its own."""
    settings.DNS_ZONE_DIR = tmp_path / "zones"
    return settings.DNS_ZONE_DIR


@pytest.fixture
def service(db):
    return make_service()


@pytest.fixture
def people(db, service):
    """Personas on `service`, plus someone holding everything on another service and an outsider."""
    from tests.factories import PERSONAS

    make_service("elsewhere", chain={a: ["other"] for a in set(PERSONAS.values())})
    names = [*PERSONAS, "other", "outsider"]
    return {name: user(name) for name in names}


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


# Readiness checks against local HTTPS targets (tests/readiness/servers.py).
@pytest.fixture
def ca():
    return trustme.CA()


@pytest.fixture
def readiness_settings(settings, ca, tmp_path):
    """The target's certificate trust ("US CA" in tests/factories.py) pins `ca`."""
    settings.READINESS_CA_BUNDLES = {"US CA": ca_file(ca, tmp_path)}
    settings.READINESS_REQUIRED_SECRETS = SECRETS
    settings.READINESS_TIMEOUT = 3
    return settings


@pytest.fixture
def broker(tmp_path):
    """A real broker (tests/harness/broker.py) this process's Celery app publishes to."""
    from tests.harness.broker import Broker

    broker = Broker(tmp_path / "broker").start()
    undo = broker.use_in_this_process()
    yield broker
    undo()
    broker.stop()
