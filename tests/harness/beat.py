"""A real `celery -A failover beat` for tests: the default scheduler (failover/beat.py), the
test database and a broker of the caller's own (broker.py), its schedule file in `workdir`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.harness.broker import Broker
from tests.harness.worker import ROOT, Worker


class Beat:
    def __init__(self, broker: Broker, workdir: Path, zone_dir: Path, **extra_env: str):
        self.log = workdir / f"beat-{time.monotonic_ns()}.log"
        self.schedule = workdir / "celerybeat-schedule"
        self.env = Worker(broker, workdir, zone_dir, **extra_env).env
        self.process: subprocess.Popen | None = None

    def start(self) -> Beat:
        argv = [sys.executable, "-m", "celery", "-A", "failover", "beat", "--loglevel=INFO"]
        argv += ["--schedule", str(self.schedule)]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def kill(self) -> None:
        """Gone without a word, as a beat whose host died."""
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
            REGISTRY.record(self.log.read_text(errors="replace"), f"beat log {self.log.name}")
