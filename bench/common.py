"""What the benchmarks share: percentiles, a PostgreSQL database of their own, the
production-shaped processes (gunicorn, a Celery worker, a redis broker), wrk, and the table of
results in docs/benchmarks.md."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.ports import free_port  # noqa: E402  (the repository root is on the path now)

RESULTS = ROOT / "docs" / "benchmarks.md"
PYTHON = sys.executable
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/failover_bench"
WRK_SCRIPT = Path(__file__).with_name("wrk.lua")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def record(benchmark: str, *, result: str, baseline: str, target: str, met: bool, database: str):
    """Append one dated row to the results table (the last thing in docs/benchmarks.md)."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    cells = [when, benchmark, str(os.cpu_count()), database, result, baseline, target]
    cells.append("met" if met else "**missed**")
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write("| " + " | ".join(c.replace("|", "/") for c in cells) + " |\n")
    print(f"  recorded in {RESULTS.relative_to(ROOT)}")


def scratch(name: str) -> Path:
    """A temporary directory for one run (logs, zone files, broker), removed at exit."""
    path = Path(tempfile.mkdtemp(prefix=f"failover-bench-{name}-"))
    atexit.register(shutil.rmtree, path, True)
    return path


class Database:
    """A PostgreSQL database of the benchmark's own (BENCH_DATABASE_URL's name + a suffix),
    created empty and dropped at the end, connections and all."""

    def __init__(self, suffix: str):
        base = urlsplit(os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
        self.name = f"{base.path.lstrip('/') or 'failover_bench'}_{suffix}"
        self.url = urlunsplit(base._replace(path=f"/{self.name}"))
        self._admin = urlunsplit(base._replace(path="/postgres"))

    def _run(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self._admin, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def create(self) -> Database:
        self._run(
            f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)', f'CREATE DATABASE "{self.name}"'
        )
        return self

    def drop(self) -> None:
        self._run(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def app_env(workdir: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The production settings (DEBUG off) on this machine's loopback: plain HTTP, the
    benchmark's database and broker, limits high enough not to be what is measured."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "DEBUG": "false",
        "DATABASE_URL": database_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "API_USER_RATE": "100000000/min",
        "API_ANON_RATE": "100000000/min",
        "FAILOVER_VAR_DIR": str(workdir / "var"),
        "DNS_ZONE_DIR": str(workdir / "var" / "zones"),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **_shared_cache(extra.get("CELERY_BROKER_URL", "")),
        **extra,
    }


def _shared_cache(broker_url: str) -> dict[str, str]:
    """As docker-compose: the web processes share a Redis cache (database 1 of the broker's
    redis-server), which counts the intake and sign-in limits."""
    if not broker_url.startswith("redis://"):
        return {}
    return {"CACHE_URL": broker_url.rsplit("/", 1)[0] + "/1"}


@contextmanager
def stack(name: str, database: str = "", **extra: str):
    """One run's workdir, PostgreSQL database and redis broker, this process's Django set up
    on them, and the processes the run starts: all stopped and dropped at the end.
    -> (workdir, env, processes)"""
    from tests.harness.broker import Broker

    workdir = scratch(name)
    db = Database(database or name).create()
    processes = Processes(workdir)
    broker = Broker(workdir / "broker").start()
    env = app_env(workdir, db.url, CELERY_BROKER_URL=broker.url, **extra)
    try:
        setup_django(env)
        yield workdir, env, processes
    finally:
        processes.stop()
        broker.stop()
        from django.db import connection

        connection.close()
        db.drop()


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def _wait(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class Processes:
    """The processes a benchmark starts, stopped together (each by its own id)."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.started: list[subprocess.Popen] = []
        self.pids: dict[str, int] = {}

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "w")  # noqa: SIM115  (the child keeps it)
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.started.append(process)
        self.pids[name] = process.pid
        return process

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def gunicorn(self, env: dict[str, str], *, workers: int) -> str:
        """gunicorn as the Dockerfile runs it (gunicorn.conf.py: gthread workers), on a free
        loopback port."""
        port = free_port()
        argv = [PYTHON, "-m", "gunicorn", "failover.wsgi", "--bind", f"127.0.0.1:{port}"]
        process = self._start("gunicorn", [*argv, "--workers", str(workers)], env)
        url = f"http://127.0.0.1:{port}"
        _wait(lambda: healthy(url) or process.poll() is not None, "gunicorn")
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited: " + self.log("gunicorn")[-3000:])
        return url

    def celery_worker(
        self, env: dict[str, str], *, queues: str, concurrency: int, nice: int = 0
    ) -> None:
        argv = ["nice", "-n", str(nice)] if nice else []
        argv += [PYTHON, "-m", "celery", "-A", "failover", "worker", "-Q", queues]
        argv += [f"--concurrency={concurrency}", "--without-gossip", "--without-mingle"]
        argv += ["--without-heartbeat", "--loglevel=INFO"]  # "ready." is logged at INFO
        process = self._start("worker", argv, env)
        _wait(lambda: "ready." in self.log("worker") or process.poll() is not None, "celery worker")
        if process.poll() is not None:
            raise RuntimeError("celery worker exited: " + self.log("worker")[-3000:])

    def stop(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def wrk(
    url: str,
    *,
    method: str,
    path: str,
    token: str,
    ids=(),
    mode: str = "plain",
    seconds: float,
    connections: int,
    close: bool = False,
) -> dict:
    """One wrk run (one thread: requests go out in the script's order) -> its summary:
    requests, seconds, rps, p50/p99 (s), non2xx, errors. `close`: a new connection for
    every request (bench/wrk.lua says why)."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--timeout", "10s"]
    argv += ["-s", str(WRK_SCRIPT), url, "--", method, path, token, mode]
    argv.append(",".join(str(i) for i in ids))
    if close:
        argv.append("close")
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next(x for x in output.splitlines() if x.startswith("BENCH "))
    found = json.loads(line[len("BENCH ") :])
    found["rps"] = found["requests"] / found["seconds"]
    found["p50"], found["p99"] = found.pop("p50_us") / 1e6, found.pop("p99_us") / 1e6
    return found
