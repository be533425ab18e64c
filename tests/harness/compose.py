"""docker-compose.yml run without Docker: its services' commands and health checks as local
processes, against the local PostgreSQL server and a redis-server of the caller's own, with
the environment compose would give each container (tests/test_compose_native.py).

What a container has and a host lacks is mapped, nothing else changed: the host names
`postgres` and `redis` become loopback and the caller's ports, the database and its two roles
get names of the caller's own (roles are shared by the whole server), `/run/secrets/NAME` and
`/var/lib/failover` become temporary paths, and the web port its free port."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# The image's own variables besides the Dockerfile's ENV (python:3.11-slim).
IMAGE_ENV = {"LANG": "C.UTF-8"}

# ${NAME}, ${NAME:-default}, ${NAME-default}, $NAME, and $$ for a literal $ (compose's rules).
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_]\w*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_]\w*)")


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    """What compose makes of the file's values: variables of the shell running it substituted
    (every string of the file), `$$` left as one `$` for the container."""
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        given = variables.get(name)
        if match.group(2) == ":-":
            return given or match.group(3)
        if match.group(2) == "-":
            return match.group(3) if given is None else given
        return given or ""

    return _VARIABLE.sub(one, value)


def load_compose(path: Path, variables: dict[str, str] | None = None) -> dict[str, Any]:
    """The file as compose reads it: anchors and `<<` merges resolved (YAML), then variables."""
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return dict(interpolate(loaded, variables or {}))


@dataclass
class Dockerfile:
    env: dict[str, str]
    cmd: list[str]
    expose: list[int]
    collectstatic: list[str]  # the build's shell steps that collect the static files


def read_dockerfile(path: Path) -> Dockerfile:
    """The instructions of the final stage that matter to a running container."""
    text = re.sub(r"\\\n", " ", path.read_text())
    env: dict[str, str] = {}
    cmd: list[str] = []
    expose: list[int] = []
    steps: list[str] = []
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        word = word.upper()
        if word == "FROM":
            env, cmd, expose, steps = {}, [], [], []
        elif word == "ENV":
            parts = shlex.split(rest)
            if parts and "=" not in parts[0]:  # the old `ENV NAME value` form
                env[parts[0]] = " ".join(parts[1:])
            else:
                env.update(part.partition("=")[::2] for part in parts)
        elif word == "CMD":
            cmd = json.loads(rest)
        elif word == "EXPOSE":
            expose = [int(port.split("/")[0]) for port in rest.split()]
        elif word == "RUN":
            steps += [step.strip() for step in rest.split("&&") if "collectstatic" in step]
    return Dockerfile(env, cmd, expose, steps)


def init_defaults(script: Path) -> dict[str, str]:
    """The names deploy/postgres-init makes when compose runs it: `FAILOVER_DB` and so on."""
    found = re.findall(r'"\$\{(FAILOVER_DB\w*):-([^}]*)\}"', script.read_text())
    return dict(found)


@dataclass
class Check:
    """One service's health check as compose runs it, and what came of it."""

    service: str
    argv: list[str]
    timeout: float
    budget: float  # how long compose waits before calling the service unhealthy
    passed: bool = False
    attempts: int = 0
    seconds: float = 0.0
    output: str = ""

    def summary(self) -> str:
        state = "healthy" if self.passed else "UNHEALTHY"
        head = f"{self.service}: {state} after {self.attempts} run(s), {self.seconds:.1f} s"
        return f"{head}\n  $ {shlex.join(self.argv)}\n" + "".join(
            f"  | {line}\n" for line in self.output.strip().splitlines()[-8:]
        )


def seconds(value: str | int | float | None, default: float) -> float:
    """A compose duration ("10s", "1m30s", "500ms") in seconds."""
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"([\d.]+)(ms|us|h|m|s)", value)
    if not parts:
        raise ValueError(f"not a compose duration: {value!r}")
    return sum(float(number) * units[unit] for number, unit in parts)


def check_argv(test: list[str] | str) -> list[str]:
    """A healthcheck `test:` as the argv compose executes in the container."""
    if isinstance(test, str):
        return ["/bin/sh", "-c", test]
    kind, *rest = test
    if kind == "CMD":
        return list(rest)
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(rest)]
    raise ValueError(f"healthcheck test kind {kind!r} is not run here")


@dataclass
class NativeCompose:
    """The services of `compose` as processes under `workdir`. `names` maps the database and
    role names the file uses to the caller's; `pg` and `redis_port` say where the servers are."""

    compose: dict[str, Any]
    dockerfile: Dockerfile
    workdir: Path
    pg: tuple[str, int]
    redis_port: int
    names: dict[str, str]
    web_port: int
    secrets: dict[str, str]  # secret name -> its contents
    shorter: dict[str, str] = field(default_factory=dict)  # intervals shrunk, for the test's time
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    transcript: list[str] = field(default_factory=list)  # one-off commands' output

    def __post_init__(self) -> None:
        (self.workdir / "var").mkdir(parents=True, exist_ok=True)
        (self.workdir / "home").mkdir(exist_ok=True)
        # A container sees only the secrets its service lists: a directory per service.
        for service in self.compose["services"]:
            mounted = self.workdir / "secrets" / service
            mounted.mkdir(parents=True)
            for name in self.service(service).get("secrets", []):
                (mounted / name).write_text(self.secrets[name] + "\n")

    def service(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.compose["services"][name]
        return found

    # --- what differs between a container and this host ---

    def rewrite(self, text: str, service: str) -> str:
        """One value (an environment variable, a command) of `service` with the container's
        paths, host names, database names and web port turned into this host's."""
        text = re.sub(r"[a-z]+://[^\s'\"]+", lambda match: self._url(match.group(0)), text)
        text = text.replace("/run/secrets/", f"{self.workdir}/secrets/{service}/")
        text = text.replace("/var/lib/failover", f"{self.workdir}/var")
        for port in self.dockerfile.expose:
            for host in ("127.0.0.1", "localhost"):
                text = text.replace(f"{host}:{port}", f"{host}:{self.web_port}")
        return text

    def _url(self, url: str) -> str:
        parts = urlsplit(url)
        netloc = parts.netloc
        user, at, hostport = netloc.rpartition("@")
        host = hostport.split(":")[0]
        path = parts.path
        if parts.scheme.startswith("postgres") and host == "postgres":
            hostport = f"{self.pg[0]}:{self.pg[1]}"
            path = "/" + self.names.get(path.lstrip("/"), path.lstrip("/"))
            user = self.names.get(user, user)
        elif parts.scheme.startswith("redis") and host == "redis":
            hostport = f"127.0.0.1:{self.redis_port}"
        else:
            return url
        return urlunsplit((parts.scheme, f"{user}{at}{hostport}", path, parts.query, ""))

    def environment(self, name: str | None) -> dict[str, str]:
        """Service `name`'s container's environment: the image's, the service's, Docker's
        HOSTNAME; with no name, the image build's."""
        declared = {**self.dockerfile.env, **IMAGE_ENV}
        if name is not None:
            declared.update(self.service(name).get("environment", {}))
        name = name or "(build)"
        env = {key: self.rewrite(str(value), name) for key, value in declared.items()}
        # A role named on its own (DATABASE_APP_ROLE), not in a URL.
        env = {key: self.names.get(value, value) for key, value in env.items()}
        env["PATH"] = f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"
        env["HOME"] = str(self.workdir / "home")
        # Docker names the container's host and says so in HOSTNAME; here, the machine's name.
        env["HOSTNAME"] = socket.gethostname()
        env["PORT"] = str(self.web_port)
        return {**env, **self.shorter}

    def secrets_of(self, name: str) -> list[str]:
        return list(self.service(name).get("secrets", []))

    # --- processes ---

    def run(
        self, name: str | None, argv: list[str], timeout: float, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A one-off command of service `name` (its environment; None: the build's), to the end."""
        done = subprocess.run(
            argv,
            cwd=ROOT,
            env=env or self.environment(name),
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
        )
        self.transcript.append(done.stdout + done.stderr)
        return done

    def start(self, name: str, argv: list[str] | None = None) -> None:
        """Service `name`'s long-running command (compose splits a string like a shell, then
        runs it without one; no command: the image's CMD), in a process group of its own, its
        output in a log."""
        command = self.service(name).get("command")
        if argv is None:
            argv = shlex.split(command) if isinstance(command, str) else list(command or [])
            argv = argv or self.dockerfile.cmd
        argv = [self.rewrite(arg, name) for arg in argv]
        self.logs[name] = self.workdir / f"{name}.log"
        with open(self.logs[name], "wb") as log:
            self.processes[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.environment(name),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self, name: str) -> str:
        path = self.logs.get(name)
        return path.read_text(errors="replace") if path and path.exists() else ""

    def stop_all(self, grace: float = 10) -> None:
        """Every process group started, TERM then KILL, even ones that exited already (their
        children may not have)."""
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGKILL)
            if process.poll() is None:
                process.wait(5)

    # --- health checks ---

    def check(self, name: str) -> Check:
        """Service `name`'s health check, its command as this host runs it."""
        health = self.service(name)["healthcheck"]
        interval = seconds(health.get("interval"), 30)
        retries = int(health.get("retries", 3))
        start_period = seconds(health.get("start_period"), 0)
        return Check(
            name,
            [self.rewrite(arg, name) for arg in check_argv(health["test"])],
            timeout=seconds(health.get("timeout"), 30),
            budget=start_period + interval * retries,
        )

    def run_check(self, check: Check, pause: float = 0.5) -> Check:
        """Run `check` until it passes or its budget is spent: compose's timing with a short
        interval between runs, doubling up to 2 s (each run of most checks starts Python)."""
        began = time.monotonic()
        deadline = began + check.budget
        while True:
            check.attempts += 1
            try:
                done = self.run(check.service, check.argv, timeout=check.timeout)
                check.output = done.stdout + done.stderr
                check.passed = done.returncode == 0
            except subprocess.TimeoutExpired:
                check.output = f"timed out after {check.timeout:.0f} s"
            except OSError as exc:  # the command does not exist
                check.output = str(exc)
            if check.passed or time.monotonic() + pause >= deadline:
                break
            process = self.processes.get(check.service)
            if process and process.poll() is not None:  # no restarting it here: say so, stop
                check.output += f"\n{check.service} exited with {process.returncode}"
                break
            time.sleep(pause)
            pause = min(2 * pause, 2.0)
        check.seconds = time.monotonic() - began
        return check


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
