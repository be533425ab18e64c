"""The Dockerfile's build steps, run for real without Docker: its COPY lines lay the build context
out in a temporary /app, its RUN lines' pip and python commands run there in a clean venv (the
image's Python is 3.11, as this suite's), and the result starts as the image would: the installed
package imports with its version, Django's deploy checks pass with production settings, and
gunicorn loads its config and the app from CMD. A dependency the lock lacks, a hash that does
not match, a file the build needs that no COPY brings: each fails here instead of in a release.

Downloads: about a minute the first time, seconds once pip's cache holds the wheels (the
`--no-cache-dir` of the RUN lines is dropped for that, the one change made to them). Skips, and
says why, when the package registry cannot be reached."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.security.test_deploy import PRODUCTION

ROOT = Path(__file__).resolve().parent.parent
# Commands of a RUN line that touch the system, not the app (users, /var/lib): not run here.
SYSTEM = {"useradd", "mkdir", "chown"}
# Kept from this machine's environment: what pip needs to reach the registry as configured here.
KEPT = ("PATH", "HOME", "LANG", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_")
NETWORK_ERRORS = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ProxyError",
)


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines)
        if word and not word.startswith("#")
    ]


def lay_out(source: str, dest: str, app: Path, many: bool) -> None:
    """COPY as Docker does it: a directory's contents go into dest; a file goes to dest, or
    into it when dest ends in a slash or several sources share it."""
    path, target = ROOT / source, app / dest
    if path.is_dir():
        shutil.copytree(
            path, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    else:
        into = dest.endswith("/") or many
        (target if into else target.parent).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / path.name if into else target)


def commands(run: str) -> list[tuple[dict[str, str], list[str]]]:
    """A RUN line's `&&`-joined commands, each with its leading VAR=value assignments."""
    parsed = []
    for part in run.split("&&"):
        words = shlex.split(part)
        assignments = {}
        while words and re.match(r"^[A-Z_]+=", words[0]):
            name, _, value = words.pop(0).partition("=")
            assignments[name] = value
        parsed.append((assignments, words))
    return parsed


def execute(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    if result.returncode and any(error in output for error in NETWORK_ERRORS):
        pytest.skip(f"the package registry cannot be reached: {argv[:3]} said {output[-300:]}")
    return result


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """Builds the 'image' once: (app dir, venv bin dir, environment the image runs with)."""
    base = tmp_path_factory.mktemp("image")
    app, venv, var = base / "app", base / "venv", base / "var"
    app.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k.startswith(KEPT)}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    ran, skipped = [], []
    for instruction, rest in instructions():
        if instruction == "ENV":
            env.update(word.split("=", 1) for word in shlex.split(rest))
            env["FAILOVER_VAR_DIR"] = str(var)  # not the image's /var/lib/failover
        elif instruction == "COPY":
            *sources, dest = shlex.split(rest)
            for source in sources:
                lay_out(source, dest, app, many=len(sources) > 1)
        elif instruction == "RUN":
            for assignments, argv in commands(rest):
                if argv[0] in SYSTEM:
                    skipped.append(argv[0])
                    continue
                argv = [word for word in argv if word != "--no-cache-dir"]
                result = execute(argv, {**env, **assignments}, app)
                assert result.returncode == 0, f"RUN {shlex.join(argv)}:\n{result.stderr[-3000:]}"
                ran.append(shlex.join(argv))
    assert any("--require-hashes" in command for command in ran), ran
    assert set(skipped) <= SYSTEM
    return app, venv / "bin", env


def production_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**env, **PRODUCTION, "FAILOVER_VAR_DIR": str(tmp_path)}


def test_the_installed_package_imports_with_the_declared_version(image, tmp_path):
    _app, bin_dir, env = image
    script = "import failover; print(failover.__version__); print(failover.__file__)"
    # Run from elsewhere than /app: the import is the installed package's, not the copied tree's.
    result = execute([str(bin_dir / "python"), "-c", script], env, tmp_path)
    assert result.returncode == 0, result.stderr
    version, location = result.stdout.split()
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version == declared
    assert "site-packages" in location


def test_the_venv_holds_no_conflicting_requirements(image):
    _app, bin_dir, env = image
    result = execute([str(bin_dir / "python"), "-m", "pip", "check"], env, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_checks_pass_in_the_image(image, tmp_path):
    app, bin_dir, env = image
    argv = [str(bin_dir / "python"), "manage.py", "check", "--deploy", "--fail-level", "DEBUG"]
    result = execute(argv, production_env(env, tmp_path), app)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gunicorn_loads_the_config_and_app_the_image_starts(image, tmp_path):
    app, bin_dir, env = image
    cmd = next(rest for instruction, rest in instructions() if instruction == "CMD")
    argv = [*json.loads(cmd), "--check-config"]
    argv[0] = str(bin_dir / argv[0])
    result = execute(argv, production_env(env, tmp_path), app)
    assert result.returncode == 0, result.stdout + result.stderr
