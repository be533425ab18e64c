"""Real Celery workers and brokers for tests: a worker is a separate `celery worker` process
sharing the test database; the broker is a redis-server of the test's own on a free port
(or kombu's filesystem transport where redis-server is not installed)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from tests.dnsproviders.bind import free_port

ROOT = Path(__file__).resolve().parents[2]


class Broker:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.redis = shutil.which("redis-server")
        self.process: subprocess.Popen | None = None
        if self.redis:
            self.port = free_port()
            self.url = f"redis://127.0.0.1:{self.port}/0"
            self.env = {"TEST_CELERY_BROKER_URL": self.url}
        else:
            queue = workdir / "queue"
            queue.mkdir(parents=True, exist_ok=True)
            (workdir / "queue-control").mkdir(exist_ok=True)
            self.url = "filesystem://localhost/"
            self.env = {"TEST_CELERY_BROKER_URL": self.url, "TEST_CELERY_FS_DIR": str(queue)}

    def start(self) -> Broker:
        if self.redis:
            self.process = subprocess.Popen(
                [
                    self.redis,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            _wait(lambda: _redis_ping(self.port), "redis-server")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def use_in_this_process(self):
        """Point this process's Celery app at the broker; returns a function that undoes it."""
        from failover.celery import app

        saved = (app.conf.broker_url, app.conf.broker_transport_options)
        options = {"polling_interval": 0.1}
        if not self.redis:
            queue = self.env["TEST_CELERY_FS_DIR"]
            options.update(
                data_folder_in=queue,
                data_folder_out=queue,
                control_folder=queue + "-control",
                store_processed=False,
            )
        _repoint(app, self.url, options)
        return lambda: _repoint(app, *saved)


def _repoint(app, url, options):
    import kombu.pools

    app.conf.broker_url = url
    app.conf.broker_transport_options = options
    # Producers are pooled per connection in kombu's global registry: drop them all, or a
    # later send reuses a pool closed along with the previous broker.
    kombu.pools.reset()
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None


def _redis_ping(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait(check, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    def __init__(self, broker: Broker, workdir: Path, zone_dir: Path, **extra_env):
        self.log = workdir / f"worker-{time.monotonic_ns()}.log"
        self.env = {
            **os.environ,
            **broker.env,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            # The worker runs as the suite's app role too (tests/conftest.py django_db_setup).
            "TEST_DATABASE_ASSUME_ROLE": connection.settings_dict["OPTIONS"].get("assume_role", ""),
            "DNS_ZONE_DIR": str(zone_dir),
            "DNS_CHANGE_LEASE_SECONDS": "3",
            **extra_env,
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        with open(self.log, "w") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "failover",
                    "worker",
                    "-Q",
                    "critical,celery,intake",
                    "--pool=threads",
                    "--concurrency=4",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel=INFO",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait(
            lambda: "ready." in self.log.read_text() or self.process.poll() is not None,
            "celery worker",
            timeout=30,
        )
        if self.process.poll() is not None:
            raise RuntimeError("celery worker exited: " + self.log.read_text()[-3000:])
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self._hand_log_to_leak_scan()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._hand_log_to_leak_scan()

    def _hand_log_to_leak_scan(self) -> None:
        """The worker's log lines are log lines too: the test's leak check searches them."""
        from tests.secrets_registry import REGISTRY

        if self.log.exists():
            REGISTRY.record(self.log.read_text(errors="replace"), f"worker log {self.log.name}")


def wait_for(check, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextmanager
def celery_worker(workdir: Path, zone_dir: Path, **env):
    """A broker of its own, this process pointed at it, and one worker process on it."""
    broker = Broker(workdir / "broker").start()
    undo = broker.use_in_this_process()
    worker = Worker(broker, workdir, zone_dir, **env).start()
    try:
        yield worker
    finally:
        worker.stop()
        undo()
        broker.stop()
