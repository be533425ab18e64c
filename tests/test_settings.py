"""Configuration: strict parsing, and production settings that pass Django's deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from failover.env import env_bool, env_int, env_list, env_secret

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, env=None, tmp_path=None):
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    base.update(
        {"DJANGO_SETTINGS_MODULE": "failover.settings", "FAILOVER_VAR_DIR": str(tmp_path)},
        **(env or {}),
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        tmp_path=tmp_path,
        env={
            "SECRET_KEY": "p" * 20 + "r0duct10n-k3y-w1th-many-d1fferent-characters-!@#",
            "ALLOWED_HOSTS": "failover.example.com",
            "AUDIT_SIGNING_KEY": "deploy-test:9JEDFTy/ouLzs0pOTcD664glI74b9vTy/1DOTXxDnyc=",
            "AUDIT_CHECKPOINT_S3_BUCKET": "audit-evidence",
            "SECRETS_ENCRYPTION_KEY": "qS3t0nC7pAq3pD4Y0g5wHJyQwq0a2nW8yYQk1m6v9tU=",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_secret_key_is_required_without_debug(tmp_path):
    result = manage("check", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) is required" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("f" * 10 + "ile-based-s3cret-key-with-enough-entropy-0123456789\n")
    result = manage("check", tmp_path=tmp_path, env={"SECRET_KEY_FILE": str(key_file)})
    assert result.returncode == 0, result.stderr


def test_migrations_match_the_models(tmp_path):
    result = manage(
        "makemigrations", "--check", "--dry-run", tmp_path=tmp_path, env={"DEBUG": "true"}
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("0", False), ("YES", True)])
def test_env_bool(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG") is expected


def test_env_helpers_refuse_nonsense(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured):
        env_bool("X_FLAG")
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 1)
    monkeypatch.setenv("X_LIST", "a.example, b.example,")
    assert env_list("X_LIST", []) == ["a.example", "b.example"]


def test_env_secret_refuses_both_forms(monkeypatch, tmp_path):
    (tmp_path / "s").write_text("x")
    monkeypatch.setenv("X_SECRET", "y")
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "s"))
    with pytest.raises(ImproperlyConfigured):
        env_secret("X_SECRET")
    monkeypatch.delenv("X_SECRET")
    assert env_secret("X_SECRET") == "x"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured):
        env_secret("X_SECRET")


def test_a_session_lasts_a_working_day_unless_configured(tmp_path):
    script = "from django.conf import settings; print(settings.SESSION_COOKIE_AGE)"
    env = {"DEBUG": "true"}
    assert manage("shell", "-c", script, env=env, tmp_path=tmp_path).stdout.split()[-1] == "28800"
    env["SESSION_COOKIE_AGE"] = "3600"
    assert manage("shell", "-c", script, env=env, tmp_path=tmp_path).stdout.split()[-1] == "3600"


def test_postgresql_connections_prepare_what_they_run_often(tmp_path):
    """Server-side binding with prepared statements on PostgreSQL (the fingerprint's plan
    costs more than its run); DATABASE_PREPARE_THRESHOLD=0 turns it off for a pooler that
    cannot carry them."""
    script = (
        "from django.conf import settings; o = settings.DATABASES['default'].get('OPTIONS', {}); "
        "print(o.get('server_side_binding'), o.get('prepare_threshold'))"
    )
    env = {"DEBUG": "true", "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}
    shown = manage("shell", "-c", script, env=env, tmp_path=tmp_path).stdout.split()[-2:]
    assert shown == ["True", "5"]
    env["DATABASE_PREPARE_THRESHOLD"] = "0"
    shown = manage("shell", "-c", script, env=env, tmp_path=tmp_path).stdout.split()[-2:]
    assert shown == ["None", "None"]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_query_run_often_is_prepared_on_postgresql():
    from django.db import connection

    from approvals.fingerprints import request_facts

    for _ in range(8):
        request_facts(1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("audit_auditevent" in sql for sql in prepared), prepared
