"""The web app as production runs it, for outage and input-edge tests: gunicorn in a process
of its own, sharing the test database, its log kept for the test and for the leak scan."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.harness.broker import Broker
from tests.harness.ports import free_port
from tests.harness.worker import ROOT, Worker


def launch(argv: list[str], env: dict[str, str], log: Path, probe_url: str) -> subprocess.Popen:
    """Start gunicorn (`argv`, from the repository root) and wait until `probe_url` answers
    200. Its output goes to `log`."""
    with open(log, "w") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited: " + log.read_text()[-3000:])
        try:
            if requests.get(probe_url, timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not answer: " + log.read_text()[-3000:])


def halt(process: subprocess.Popen | None, log: Path) -> None:
    """Stop it (a kill after 15 s), and hand its log to the leak scan."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    from tests.secrets_registry import REGISTRY

    if log.exists():
        REGISTRY.record(log.read_text(errors="replace"), "gunicorn log")


class Gunicorn:
    def __init__(self, broker: Broker, workdir: Path, zone_dir: Path, **extra_env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "gunicorn.log"
        # The same environment as a worker's (test database, broker, zone files); plain HTTP
        # here, so cookies without the Secure flag.
        self.env = Worker(
            broker, workdir, zone_dir,
            SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false", **extra_env,
        ).env  # fmt: skip
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        argv = [sys.executable, "-m", "gunicorn", "failover.wsgi", "--workers", "1"]
        argv += ["--threads", "4", "--bind", f"127.0.0.1:{self.port}", "--timeout", "60"]
        self.process = launch(argv, self.env, self.log, self.url + "/healthz")
        return self

    def stop(self) -> None:
        halt(self.process, self.log)
