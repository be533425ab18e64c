"""Production settings: Django's deploy checks pass with nothing silenced, and a real response
carries every security header and cookie flag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "failover.settings",
    "SECRET_KEY": "kq7#Zp2!vR9w@Lm4$Tx8^Nb3&Hc6*Jd1(Fg5)Ys0_Ue-Wa+Qo=Ik;Rl",
    "ALLOWED_HOSTS": "failover.example.com",
    # Production signs audit checkpoints into an Object Lock bucket (README, Audit checkpoints).
    "AUDIT_SIGNING_KEY": "deploy-test:9JEDFTy/ouLzs0pOTcD664glI74b9vTy/1DOTXxDnyc=",
    "AUDIT_CHECKPOINT_S3_BUCKET": "audit-evidence",
    "SECRETS_ENCRYPTION_KEY": "qS3t0nC7pAq3pD4Y0g5wHJyQwq0a2nW8yYQk1m6v9tU=",
}
SHOWN = [
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "X_FRAME_OPTIONS",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
]


def production(*args: str, tmp_path) -> subprocess.CompletedProcess:
    # Without the browser tests' async switch (deploy checks rightly refuse it) or dev flags.
    dropped = ("DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(PRODUCTION, FAILOVER_VAR_DIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_has_nothing_to_say(tmp_path):
    result = production(
        "manage.py", "check", "--deploy", "--fail-level", "DEBUG", tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert "WARNING" not in result.stderr


def test_production_settings_are_strict(tmp_path):
    script = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {SHOWN!r}}}))"
    )
    result = production("-c", script, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_HTTPONLY": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
    }


def policy(response) -> dict[str, list[str]]:
    parts = [p.split() for p in response["Content-Security-Policy"].split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/login/", "/admin/login/", "/api/v1/services/", "/healthz"])
def test_every_response_carries_the_security_headers(client, url):
    response = client.get(url, secure=True)
    assert response.status_code in (200, 401)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = policy(response)
    assert csp["default-src"] == csp["script-src"] == csp["style-src"] == ["'self'"]
    assert csp["object-src"] == csp["base-uri"] == csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert "unsafe" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_the_api_docs_widen_the_policy_for_their_own_style_block_only(client):
    csp = policy(client.get("/api/docs/", secure=True))
    assert csp["script-src"] == ["'self'"]
    [own, hashed] = csp["style-src"]
    assert own == "'self'" and hashed.startswith("'sha256-")
    assert csp["img-src"] == ["'self'", "data:"]
    script = client.get("/api/docs/?script=", secure=True)
    assert script.status_code == 200 and script["Content-Type"] == "application/javascript"


@pytest.mark.django_db
def test_cookies_are_secure_and_out_of_scripts_reach(client):
    get_user_model().objects.create_user("ic", password="right-horse-battery")
    client.get("/login/", secure=True)
    csrf = client.cookies["csrftoken"]
    assert csrf["secure"] and csrf["httponly"] and csrf["samesite"] == "Lax"
    response = client.post(
        "/login/", {"username": "ic", "password": "right-horse-battery"}, secure=True
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
