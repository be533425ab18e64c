"""What `make audit` (bin/audit-deps, run by CI) answers when it cannot audit: a vulnerability
service that cannot be reached is said loudly and does not fail CI (AUDIT_STRICT=1 makes it
fail), while a lock pip-audit cannot read fails whatever the service does. The real pip-audit
runs; the service is made unreachable with a proxy on a closed local port."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens on it here


def audit(lock: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    cache = str(tmp_path / "cache")  # no cached answer from an earlier run stands in
    return subprocess.run(
        [str(ROOT / "bin/audit-deps"), str(lock)],
        env={**os.environ, "XDG_CACHE_HOME": cache, "PIP_CACHE_DIR": cache, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def small_lock(tmp_path):
    """Two real pins of requirements.lock, with their hashes."""
    text = (ROOT / "requirements.lock").read_text()
    entries = [e for e in text.split("\n") if e and not e.startswith(" ") and "==" in e]
    keep = [e.split("==")[0] for e in entries[:2]]
    lines, taking = [], False
    for line in text.splitlines():
        if not line.startswith(" "):
            taking = line.split("==")[0] in keep
        if taking and not line.lstrip().startswith("#"):
            lines.append(line)
    lock = tmp_path / "small.lock"
    lock.write_text("\n".join(lines) + "\n")
    return lock


def test_an_unreachable_service_is_reported_and_does_not_fail(small_lock, tmp_path):
    result = audit(small_lock, tmp_path, HTTPS_PROXY=CLOSED, https_proxy=CLOSED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "NOT AUDITED" in result.stdout


def test_strict_mode_fails_when_nothing_could_be_audited(small_lock, tmp_path):
    result = audit(small_lock, tmp_path, HTTPS_PROXY=CLOSED, https_proxy=CLOSED, AUDIT_STRICT="1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "NOT AUDITED" in result.stdout


def test_a_lock_without_hashes_fails(tmp_path):
    lock = tmp_path / "bare.lock"
    lock.write_text("gunicorn==27.0.1\n")
    result = audit(lock, tmp_path, HTTPS_PROXY=CLOSED, https_proxy=CLOSED)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "does not contain a hash" in result.stderr
