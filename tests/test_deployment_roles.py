"""The documented production shape of the database (DESIGN invariant 18): compose's init script
makes an owner (no superuser) and an app role, `migrate` runs as the owner and grants the app
role its rights, and the app role then passes the start-up check and cannot unguard the log.
Run for real against the local PostgreSQL server with names of the test's own."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def manage(*args, url: str, tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": url,
            "FAILOVER_VAR_DIR": str(tmp_path / "var"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def server():
    s = connection.settings_dict
    return {"host": s["HOST"] or "127.0.0.1", "port": str(s["PORT"] or 5432)}


@pytest.fixture
def shape(server, tmp_path):
    suffix = f"t{os.getpid()}"
    names = {
        "FAILOVER_DB": f"failover_{suffix}",
        "FAILOVER_DB_OWNER": f"failover_owner_{suffix}",
        "FAILOVER_DB_APP": f"failover_app_{suffix}",
    }
    for who in ("owner", "app"):
        (tmp_path / who).write_text(f"pw-{who}\n")
    superuser = {**server, "dbname": "postgres", "user": "postgres", "autocommit": True}

    def drop():
        with psycopg.connect(**superuser) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{names["FAILOVER_DB"]}" WITH (FORCE)')
            for role in (names["FAILOVER_DB_APP"], names["FAILOVER_DB_OWNER"]):
                c.execute(f'DROP ROLE IF EXISTS "{role}"')

    drop()
    done = subprocess.run(
        ["bash", str(ROOT / "deploy/postgres-init/10-failover-roles.sh")],
        env={
            **os.environ,
            **names,
            "POSTGRES_USER": "postgres",
            "PGHOST": server["host"],
            "PGPORT": server["port"],
            "FAILOVER_DB_OWNER_PASSWORD_FILE": str(tmp_path / "owner"),
            "FAILOVER_DB_APP_PASSWORD_FILE": str(tmp_path / "app"),
        },
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    base = f"{server['host']}:{server['port']}/{names['FAILOVER_DB']}"
    yield {
        **names,
        "owner_url": f"postgres://{names['FAILOVER_DB_OWNER']}@{base}",
        "app_url": f"postgres://{names['FAILOVER_DB_APP']}@{base}",
    }
    drop()


@pytest.mark.postgres
def test_migrate_as_owner_grants_the_app_role_append_only_audit(shape, server, tmp_path):
    migrated = manage(
        "migrate",
        "--noinput",
        url=shape["owner_url"],
        tmp_path=tmp_path,
        DATABASE_APP_ROLE=shape["FAILOVER_DB_APP"],
    )
    assert migrated.returncode == 0, migrated.stderr
    # As the owner, the check names the problem (it owns the audit table)...
    owner_check = manage(
        "check", "--database", "default", url=shape["owner_url"], tmp_path=tmp_path
    )
    assert "audit.W001" in owner_check.stderr and "owns the audit table" in owner_check.stderr
    # ...as the app role there is none, and the app role cannot get past the triggers.
    app_check = manage("check", "--database", "default", url=shape["app_url"], tmp_path=tmp_path)
    assert app_check.returncode == 0 and "audit.W001" not in app_check.stderr, app_check.stderr
    app = {**server, "dbname": shape["FAILOVER_DB"], "user": shape["FAILOVER_DB_APP"]}
    with psycopg.connect(**app, autocommit=True) as c:
        for sql in (
            "ALTER TABLE audit_auditevent DISABLE TRIGGER USER",
            "TRUNCATE audit_auditevent",
            "UPDATE audit_chainhead SET seq = 0",
            "CREATE TABLE sneaky (id int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(sql)
        c.execute("SELECT seq, hash FROM audit_head_for_append()")  # the append path is open


def test_compose_runs_migrate_as_the_owner_and_everything_else_as_the_app_role():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    migrate = services["migrate"]["environment"]
    assert migrate["DATABASE_URL"].startswith("postgres://failover_owner@")
    assert migrate["DATABASE_APP_ROLE"] == "failover_app"
    for name, service in services.items():
        if name in ("migrate", "postgres", "redis"):
            continue
        assert service["environment"]["DATABASE_URL"].startswith("postgres://failover_app@"), name
    init = services["postgres"]["volumes"]
    assert "./deploy/postgres-init:/docker-entrypoint-initdb.d:ro" in init
    assert services["postgres"]["environment"]["POSTGRES_HOST_AUTH_METHOD"] != "trust"
