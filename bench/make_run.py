"""`make run` in a directory of its own, for the browser benchmarks (bench/drill.py).

Runs the Makefile's `run` recipe as it stands (migrate, seed_demo, then bin/run-local: web,
a worker on the routed queues, beat, the demo's TLS targets and identity provider, devidp),
with its install step taken as done, so a drill plays against exactly what `make run` starts
and a piece added there is started here too. Only what must differ for a second copy beside a
developer's own differs: a fresh var directory (SQLite database, filesystem broker, zone
files, demo CA), free ports for the web app and devidp, and heartbeats every few seconds so
/readyz can vouch for beat and every routed queue in seconds rather than after 30 s. The
environment is the system's only: a developer's DATABASE_URL, OIDC_ISSUER or
READINESS_SYSTEM_VETO never leaks into what is measured.

The demo targets listen on fixed ports (failover/demo/data.py): two copies at once, or one
beside `make run`, cannot both serve them. Copies started here take turns (a lock file, waited
for within the caller's time); one beside a developer's `make run` fails at start, saying so.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.ports import free_port  # noqa: E402

# What a shell that types `make run` has and the product does not read.
SYSTEM_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM")
HEARTBEAT_SECONDS = 2
# Held while a copy runs: the demo targets' ports are the same for every copy.
TURN_LOCK = Path(tempfile.gettempdir()) / "failover-demo-targets.lock"
PORTS_TAKEN = "cannot listen for the demo targets"
# runserver's line for a request answered 1xx-3xx.
ANSWERED = re.compile(r'"[A-Z]+ \S+ HTTP/[\d.]+" [123]\d\d ')


class NotReady(RuntimeError):
    """`make run` exited or did not become ready; the message says what it showed."""


class MakeRun:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        # bin/run-local's PUBLIC_BASE_URL: the address people (and notification links) use.
        self.url = f"http://localhost:{self.port}"
        self.probe_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "make-run.log"
        self.env = {
            name: value
            for name, value in os.environ.items()
            if name in SYSTEM_VARIABLES or name.startswith("LC_")
        } | {
            "FAILOVER_VAR_DIR": str(workdir / "var"),
            "PORT": str(self.port),
            "IDP_PORT": str(free_port()),
            "HEARTBEAT_INTERVAL_SECONDS": str(HEARTBEAT_SECONDS),
        }
        self.process: subprocess.Popen | None = None
        self.turn: IO[str] | None = None
        self.waited = self.started = 0.0

    def start(self, wait: float) -> MakeRun:
        """Start `make run` once no other copy runs (waiting up to `wait` seconds for its
        turn); `wait_ready` waits for it to be ready."""
        waiting = time.monotonic()
        self.take_turn(wait)
        self.waited = time.monotonic() - waiting
        with open(self.log_path, "wb") as log:
            if shutil.which("make", path=self.env.get("PATH")) is None:
                raise NotReady("`make` is not installed: apt-get install make")
            self.process = subprocess.Popen(
                # -o: the venv counts as installed (this Python runs from it), so nothing is
                # downloaded or reinstalled; the rest of the recipe runs as written.
                ["make", "--no-print-directory", "-o", ".venv/.installed", "run"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends all it started
            )
        self.started = time.monotonic()
        return self

    def take_turn(self, wait: float) -> None:
        turn = open(TURN_LOCK, "a")  # noqa: SIM115 (held until stop)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(turn, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.turn = turn
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    turn.close()
                    raise NotReady(
                        f"another drill held the demo targets' ports for more than {wait:.0f} s "
                        f"(lock {TURN_LOCK})"
                    ) from None
                time.sleep(0.5)

    def wait_ready(self, timeout: float) -> float:
        """Wait until /readyz says "ok" (the seconds since start), or raise NotReady."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                hint = (
                    " (the demo targets' fixed ports are taken: is a `make run` running?)"
                    if PORTS_TAKEN in self.log_path.read_text(errors="replace")
                    else ""
                )
                raise NotReady(
                    f"`make run` exited with code {code} before it was ready{hint}; "
                    f"its output ends:\n{self.tail()}"
                )
            try:
                with urllib.request.urlopen(self.probe_url + "/readyz", timeout=2) as response:
                    body = json.load(response)
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (OSError, ValueError) as exc:
                last = f"no answer ({exc.__class__.__name__})"
            else:
                if body.get("status") == "ok":
                    return time.monotonic() - self.started
                last = degraded(body)
            time.sleep(0.5)
        raise NotReady(
            f"`make run` was not ready after {timeout:.0f} s; /readyz said: {last}\n"
            f"its output ends:\n{self.tail()}"
        )

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "  (no output)"
        # Less the requests that went well (this module's polling of /readyz, the pages'
        # polls): they say nothing about what went wrong.
        said = [line for line in text.splitlines() if not ANSWERED.search(line)]
        return "\n".join("  " + line for line in said[-lines:]) or "  (no output)"

    def stop(self, grace: float = 20) -> None:
        """SIGTERM to the whole group (bin/run-local's trap stops its children in order), then
        SIGKILL to whatever is left of it after `grace` seconds."""
        if self.process is not None:
            group = self.process.pid
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and group_alive(group):
                self.process.poll()  # reaps make itself once it exits
                time.sleep(0.2)
        self.kill()

    def kill(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        if self.turn is not None:
            self.turn.close()  # the next copy's turn


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def degraded(body: dict) -> str:
    """/readyz's degraded checks in a line: which, how, and what that means."""
    checks = body.get("checks", {})
    parts = []
    for name in body.get("degraded", []):
        check = checks.get(name, {})
        age = check.get("age_seconds")
        seen = "never seen" if check.get("status") == "stale" and age is None else ""
        how = ", ".join(filter(None, [check.get("status", "?"), seen]))
        parts.append(f"{name} {how}" + (f" ({check['effect']})" if check.get("effect") else ""))
    return f"{body.get('status')}: " + "; ".join(parts)
