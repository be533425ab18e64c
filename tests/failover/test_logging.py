"""Log lines: JSON lines (LOG_FORMAT=json, the default without DEBUG) from gunicorn, its access
log, the app, a worker and beat, each line one object; plain text with DEBUG (`make run`); a
bad LOG_FORMAT stops start-up. And the client address behind the documented proxy, in the
sign-in audit and on log lines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from failover.logformat import log_format
from tests.harness.broker import Broker
from tests.harness.gunicorn import Gunicorn
from tests.harness.worker import ROOT, Worker, wait_for

CONTEXT = ("request_id", "actor", "failover_request_id", "client")


def json_lines(text: str) -> list[dict]:
    """Every line, parsed: one that is not a JSON object fails the test."""
    parsed = []
    for line in text.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        parsed.append(record)
    return parsed


# --- choosing the format ----------------------------------------------------------------------


def test_the_format_follows_debug_unless_set(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert (log_format(debug=False), log_format(debug=True)) == ("json", "plain")
    monkeypatch.setenv("LOG_FORMAT", " Plain ")
    assert log_format(debug=False) == "plain"
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert log_format(debug=True) == "json"


def test_a_bad_format_stops_start_up(monkeypatch, tmp_path):
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT must be one of json, plain"):
        log_format(debug=False)
    env = {k: v for k, v in __import__("os").environ.items() if k != "DEBUG"}
    env.update(
        DJANGO_SETTINGS_MODULE="failover.settings",
        FAILOVER_VAR_DIR=str(tmp_path),
        SECRET_KEY="k" * 50,
        LOG_FORMAT="xml",
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "ImproperlyConfigured: LOG_FORMAT must be one of json, plain, got 'xml'" in done.stderr


def test_python_warnings_are_json_lines_too(tmp_path):
    """A warning (Celery's "running as superuser", a deprecation) is written by Python itself,
    as text, unless it goes through logging: a log pipeline reading JSON would choke on it."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "DEBUG"}
    env.update(
        DJANGO_SETTINGS_MODULE="failover.settings",
        FAILOVER_VAR_DIR=str(tmp_path),
        SECRET_KEY="k" * 50,
        LOG_FORMAT="json",
    )
    code = "import django, warnings; django.setup(); warnings.warn('careful now')"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    [record] = json_lines(done.stderr)
    assert record["logger"] == "py.warnings" and "UserWarning: careful now" in record["message"]


# --- real processes -----------------------------------------------------------------------------


@pytest.fixture
def broker(tmp_path):
    started = Broker(tmp_path / "broker").start()
    yield started
    started.stop()


def served(broker, tmp_path, zone_dir, **env) -> str:
    """A real gunicorn (reading gunicorn.conf.py, as the Dockerfile's does), asked for a page,
    a missing page and a page with a forged request id; its whole output once stopped."""
    web = Gunicorn(broker, tmp_path, zone_dir, **env).start()
    try:
        ok = requests.get(f"{web.url}/login/", headers={"X-Request-ID": "gun-1"}, timeout=10)
        assert ok.status_code == 200 and ok.headers["X-Request-ID"] == "gun-1"
        missing = requests.get(f"{web.url}/nope/", headers={"X-Request-ID": "gun-2"}, timeout=10)
        assert missing.status_code == 404
        forged = requests.get(
            f"{web.url}/login/", headers={"X-Request-ID": 'x" "injected'}, timeout=10
        )
        assert forged.headers["X-Request-ID"] != 'x" "injected'
    finally:
        web.stop()
    return web.log.read_text()


@pytest.mark.django_db(transaction=True)
def test_gunicorn_and_the_app_write_json_lines(broker, tmp_path, zone_dir):
    records = json_lines(served(broker, tmp_path, zone_dir, LOG_FORMAT="json"))
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(
        r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in records
    )
    [access] = [
        r for r in records if r["logger"] == "gunicorn.access" and r["request_id"] == "gun-1"
    ]
    assert (access["method"], access["path"], access["status"]) == ("GET", "/login/", 200)
    assert access["bytes"] > 0 and access["duration_ms"] >= 0 and access["peer"] == "127.0.0.1"
    [not_found] = [r for r in records if r["logger"] == "django.request"]
    assert not_found["message"] == "Not Found: /nope/" and not_found["level"] == "WARNING"
    assert {k: not_found[k] for k in CONTEXT} == {
        "request_id": "gun-2", "actor": "", "failover_request_id": "", "client": "127.0.0.1"
    }  # fmt: skip
    assert not any("injected" in r.get("request_id", "") for r in records)


@pytest.mark.django_db(transaction=True)
def test_with_debug_the_lines_are_plain_text(broker, tmp_path, zone_dir):
    text = served(broker, tmp_path, zone_dir, DEBUG="true", ALLOWED_HOSTS="127.0.0.1")
    assert not any(line.startswith("{") for line in text.splitlines())
    assert "WARNING django.request [gun-2] Not Found: /nope/" in text


@pytest.mark.django_db(transaction=True)
def test_worker_and_beat_write_json_lines(broker, tmp_path, zone_dir):
    """`celery --quiet` (no banner): every line a JSON object, Celery's own included."""
    env = Worker(broker, tmp_path, zone_dir, LOG_FORMAT="json").env
    log = tmp_path / "beat.log"
    with open(log, "w") as out:
        beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "--quiet", "-A", "failover", "beat",
             "--loglevel=INFO", "-s", str(tmp_path / "schedule")],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: "Sending due task" in log.read_text(), what="beat to send a task")
    finally:
        beat.terminate()
        beat.wait(15)
    records = json_lines(log.read_text())
    assert any(r["logger"] == "celery.beat" and "Sending due task" in r["message"] for r in records)
    assert all(set(CONTEXT) <= set(r) for r in records)
