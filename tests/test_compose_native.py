"""docker-compose.yml proven without Docker: every service's command and health check run as
local processes with the environment compose gives its container (tests/harness/compose.py),
so the file cannot drift from what works. There is no Docker engine here: the containers'
host names, secret files and volumes are mapped to local ones, nothing else.

The machine's PostgreSQL trusts local connections: the roles get the passwords of compose's
secrets and every process is given them, but the server does not check them."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from cryptography.fernet import Fernet
from django.db import connection

from tests.harness.broker import redis_answers, wait_until
from tests.harness.compose import (
    Check,
    NativeCompose,
    init_defaults,
    load_compose,
    read_dockerfile,
)
from tests.harness.ports import free_port
from tests.secrets_registry import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
INIT_SCRIPT = ROOT / "deploy" / "postgres-init" / "10-failover-roles.sh"
COMPOSE = ROOT / "docker-compose.yml"


def long_running(services: dict[str, Any]) -> list[str]:
    """The services started once `migrate` has succeeded (web, the workers, beat)."""
    return [
        name for name, service in services.items() if "migrate" in service.get("depends_on", {})
    ]


def compose_secrets(names: list[str]) -> dict[str, str]:
    """Values of the kind each secret file holds (README, 'Configuration')."""
    made = {name: secrets.token_urlsafe(24) for name in names}
    made["secrets_encryption_key"] = Fernet.generate_key().decode()
    made["audit_signing_key"] = "compose-test:" + base64.b64encode(os.urandom(32)).decode()
    for name, value in made.items():
        REGISTRY.register(value, f"compose secret {name}")  # no log may print one
    return made


def test_every_long_running_service_has_a_health_check() -> None:
    compose = load_compose(COMPOSE)["services"]
    # Every service of the image but the one-off `migrate` waits for it, so the test below
    # starts them all; each has a health check.
    built = {name for name, service in compose.items() if "build" in service} - {"migrate"}
    assert set(long_running(compose)) == built
    for name in built:
        assert "healthcheck" in compose[name], f"{name} has no health check"
    web = shlex.join(compose["web"]["healthcheck"]["test"])
    # A probe by address, with no Host header made up to get past ALLOWED_HOSTS.
    assert "127.0.0.1:8000/healthz" in web and "Host" not in web
    assert compose["beat"]["healthcheck"]["test"][-2:] == ["check_heartbeat", "beat"]


@pytest.fixture
def native(tmp_path: Path) -> Iterator[NativeCompose]:
    s = connection.settings_dict
    server = (s["HOST"] or "127.0.0.1", int(s["PORT"] or 5432))
    defaults = init_defaults(INIT_SCRIPT)
    suffix = f"c{os.getpid()}"
    # Roles belong to the whole server: names of this test's own, for the file's names.
    names = {
        defaults["FAILOVER_DB"]: f"test_compose_native_{suffix}",
        defaults["FAILOVER_DB_OWNER"]: f"compose_owner_{suffix}",
        defaults["FAILOVER_DB_APP"]: f"compose_app_{suffix}",
    }
    compose = load_compose(COMPOSE)
    running = NativeCompose(
        compose,
        read_dockerfile(ROOT / "Dockerfile"),
        tmp_path,
        pg=server,
        redis_port=free_port(),
        names=names,
        web_port=free_port(),
        secrets=compose_secrets(list(compose["secrets"])),
        # Beat sends each queue's heartbeat task every 5 s rather than 30: /readyz below is
        # "ok" within seconds of the workers starting.
        shorter={"HEARTBEAT_INTERVAL_SECONDS": "5"},
    )

    def drop() -> None:
        with psycopg.connect(
            host=server[0], port=server[1], dbname="postgres", user="postgres", autocommit=True
        ) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{names[defaults["FAILOVER_DB"]]}" WITH (FORCE)')
            for role in (names[defaults["FAILOVER_DB_APP"]], names[defaults["FAILOVER_DB_OWNER"]]):
                c.execute(f'DROP ROLE IF EXISTS "{role}"')

    drop()
    try:
        yield running
    finally:
        running.stop_all()
        for name in running.logs:
            REGISTRY.record(running.log(name), f"compose {name} log")
        for output in running.transcript:
            REGISTRY.record(output, "compose one-off command")
        drop()


def start_servers(native: NativeCompose) -> list[Check]:
    """redis with compose's command; the database and its roles by compose's init script, as
    the postgres image runs it (as the superuser, with the postgres service's secrets)."""
    redis = native.service("redis")["command"]
    port = str(native.redis_port)
    data = native.workdir / "redis"
    data.mkdir()
    native.start("redis", [*redis, "--port", port, "--bind", "127.0.0.1", "--dir", str(data)])
    wait_until(lambda: redis_answers(native.redis_port), "redis-server")

    env = native.environment("postgres")
    for variable, path in init_defaults(INIT_SCRIPT).items():
        if variable.endswith("_PASSWORD_FILE"):
            # The script reads the password files the postgres service mounts.
            assert Path(path).name in native.secrets_of("postgres"), variable
            env[variable] = native.rewrite(path, "postgres")
        else:
            env[variable] = native.names[path]
    env.update(POSTGRES_USER="postgres", PGHOST=native.pg[0], PGPORT=str(native.pg[1]))
    done = native.run("postgres", ["bash", str(INIT_SCRIPT)], timeout=60, env=env)
    assert done.returncode == 0, done.stdout + done.stderr

    # The images' checks, pointed at these servers and this database.
    postgres = native.check("postgres")
    postgres.argv = [native.names.get(arg, arg) for arg in postgres.argv]
    postgres.argv[1:1] = ["-h", native.pg[0], "-p", str(native.pg[1])]
    redis_check = native.check("redis")
    redis_check.argv[1:1] = ["-p", port]
    return [native.run_check(postgres), native.run_check(redis_check)]


@pytest.mark.postgres
def test_compose_services_run_and_turn_healthy_natively(native: NativeCompose) -> None:
    began = time.monotonic()
    timings: dict[str, float] = {}
    results = start_servers(native)
    timings["postgres, redis"] = time.monotonic() - began

    services = long_running(native.compose["services"])
    with ThreadPoolExecutor(len(services) + 2) as pool:
        # The image's build step, meanwhile: without its manifest of the static files, every
        # page is a 500 with DEBUG off.
        steps = native.dockerfile.collectstatic
        assert steps, "the Dockerfile collects no static files"
        built = pool.submit(native.run, None, ["/bin/sh", "-c", " && ".join(steps)], 180)
        # And each health check run once with nothing to find: it fails, so a pass later is
        # the service's doing.
        before = [pool.submit(one_run, native, name) for name in services]
        migrate = native.service("migrate")["command"]
        migrated = native.run("migrate", shlex.split(migrate), timeout=300)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        timings["migrate"] = time.monotonic() - began
        assert built.result().returncode == 0, built.result().stdout + built.result().stderr
        timings["collectstatic"] = time.monotonic() - began
        for future in before:
            check = future.result()
            assert not check.passed, f"{check.service}'s check passed with nothing running"

        for name in services:
            native.start(name)
        checks = list(pool.map(lambda name: native.run_check(native.check(name)), services))
    timings["healthy"] = time.monotonic() - began
    results += checks
    report = "\n".join(check.summary() for check in results)
    print("\n" + report)  # noqa: T201 (the closing note quotes it: pytest -s or -rP)
    for check in results:
        assert check.passed, report + "\n" + native.log(check.service)[-3000:]

    # Web and workers run as the app role, which cannot rewrite the audit log (they would say
    # so at start: audit.W001); `migrate` ran as the owner and granted it its rights.
    for name in services:
        assert "audit.W001" not in native.log(name), native.log(name)[-3000:]
    # The webhook flood's worker runs at the lower priority the file gives it.
    assert os.getpriority(os.PRIO_PROCESS, native.processes["intake-worker"].pid) == 10

    # A page through gunicorn as the proxy forwards it: the production Host, HTTPS said.
    host = native.environment("web")["ALLOWED_HOSTS"].split(",")[0].strip()
    headers = {"Host": host, "X-Forwarded-Proto": "https"}
    base = f"http://127.0.0.1:{native.web_port}"
    home = requests.get(base + "/", headers=headers, allow_redirects=False, timeout=10)
    assert home.status_code in (200, 302), home.text[:500]
    if home.status_code == 302:  # anonymous: the sign-in page, its static files collected
        location = home.headers["Location"].removeprefix(f"https://{host}")
        home = requests.get(base + location, headers=headers, timeout=10)
        assert home.status_code == 200, home.text[:500]
    assert "/static/" in home.text
    timings["smoke"] = time.monotonic() - began

    # Ready as a load balancer sees it (by address, plain HTTP): the database, the cache, the
    # broker, beat's heartbeat and a worker consuming every routed queue, all "ok".
    ready = wait_ready(f"http://127.0.0.1:{native.web_port}/readyz", within=30)
    print("readyz: " + json.dumps(ready))  # noqa: T201
    assert ready["status"] == "ok", ready
    timings["ready"] = time.monotonic() - began
    # Prometheus scrapes by address with the token of the metrics_token secret; the HTTP
    # counters of web's worker processes are summed in its PROMETHEUS_MULTIPROC_DIR.
    metrics_url = f"http://127.0.0.1:{native.web_port}/metrics"
    assert requests.get(metrics_url, timeout=10).status_code == 401
    token = native.secrets["metrics_token"]
    scraped = requests.get(metrics_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert scraped.status_code == 200, scraped.text[:500]
    assert "failover_build_info" in scraped.text and "django_http_requests" in scraped.text
    # A log pipeline reads every line of every service as JSON (LOG_FORMAT's default with
    # DEBUG off): Celery's banner is text, so its commands run `celery --quiet`.
    for name in services:
        lines = [line for line in native.log(name).splitlines() if line.strip()]
        assert lines, f"{name} wrote nothing"
        for line in lines:
            assert line.startswith("{") and isinstance(json.loads(line), dict), (name, line)
    took = ", ".join(f"{step} {at:.1f}" for step, at in timings.items())
    print(f"timings (s from start): {took}")  # noqa: T201


def wait_ready(url: str, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 200, answer.text[:500]
        body: dict[str, Any] = answer.json()
        if body["status"] == "ok" or time.monotonic() > deadline:
            return body
        time.sleep(1)


def one_run(native: NativeCompose, name: str) -> Check:
    check = native.check(name)
    check.budget = 0  # a single run
    return native.run_check(check)
