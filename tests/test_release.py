"""One version, said the same everywhere: pyproject.toml, the running code, the changelog."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

import failover

ROOT = Path(__file__).resolve().parent.parent
# The Apache License 2.0 exactly as the ASF publishes it (LICENSE-2.0.txt): edits change the terms.
APACHE_2_0_MD5 = "3b83ef96387f14655fc854ddc3c6bd57"


def declared_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_running_code_reports_the_declared_version():
    # A stale install (pyproject.toml changed, `make install` not rerun) fails here.
    assert failover.__version__ == declared_version()


def test_the_changelog_has_an_entry_for_the_version_and_an_unreleased_section():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, re.M)
    assert headings[:1] == ["Unreleased"], headings
    assert declared_version() in headings, f"no '## [{declared_version()}]' in CHANGELOG.md"


def test_the_license_is_the_unmodified_apache_2_0_text():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert hashlib.md5((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_0_MD5
