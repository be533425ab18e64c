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
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited: " + self.log.read_text()[-3000:])
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer: " + self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        from tests.secrets_registry import REGISTRY

        if self.log.exists():
            REGISTRY.record(self.log.read_text(errors="replace"), "gunicorn log")
