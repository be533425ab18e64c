"""A real `celery -A failover beat` for tests: the default scheduler (failover/beat.py), the
test database and a broker of the caller's own (broker.py), its schedule file in `workdir`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.harness.broker import Broker
from tests.harness.worker import ROOT, CeleryProcess, Worker


class Beat(CeleryProcess):
    kind = "beat"

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
