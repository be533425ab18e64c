"""A real Celery worker for tests and benchmarks: a separate `celery worker` process sharing
the test database, on a broker of the caller's own (broker.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from tests.harness.broker import Broker, wait_until

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class CeleryProcess:
    """Stopping a Celery process of a test (worker or beat) and handing its log to the leak
    check: its log lines are log lines too."""

    kind = "worker"
    log: Path
    process: subprocess.Popen | None

    def kill(self) -> None:
        """Gone without a word, as a process whose host died."""
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
        from tests.secrets_registry import REGISTRY

        if self.log.exists():
            REGISTRY.record(
                self.log.read_text(errors="replace"), f"{self.kind} log {self.log.name}"
            )


class Worker(CeleryProcess):
    def __init__(
        self,
        broker: Broker,
        workdir: Path,
        zone_dir: Path,
        queues: str = "critical,celery,intake",
        **extra_env,
    ):
        self.queues = queues
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
                    self.queues,
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
        wait_until(
            lambda: "ready." in self.log.read_text() or self.process.poll() is not None,
            "celery worker",
            timeout=30,
        )
        if self.process.poll() is not None:
            raise RuntimeError("celery worker exited: " + self.log.read_text()[-3000:])
        return self


class PreforkWorker(Worker):
    """A worker with Celery's default pool (processes), as docker-compose runs it: the only
    pool that enforces time limits, and whose parent runs no task."""

    def __init__(self, *args, concurrency: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.concurrency = concurrency

    def start(self) -> PreforkWorker:
        argv = [sys.executable, "-m", "celery", "-A", "failover", "worker", "-Q", self.queues]
        argv += ["--pool=prefork", f"--concurrency={self.concurrency}", "--without-gossip"]
        argv += ["--without-mingle", "--without-heartbeat", "--loglevel=INFO"]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for(lambda: "ready." in self.log.read_text(), what="the prefork worker")
        return self


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
