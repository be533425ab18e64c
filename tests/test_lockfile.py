"""The lock files cannot drift from pyproject.toml: every dependency declared there (runtime in
requirements.lock, runtime and dev in requirements-dev.lock) is pinned with hashes to a version
its declared range allows. A range changed without `make lock` fails here, not in production."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# What the locks are compiled for (`make lock`): the Dockerfile's Python, on Linux.
TARGET = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux"}


@dataclass(frozen=True)
class Pin:
    version: Version
    hashes: tuple[str, ...]


def read_lock(name: str) -> dict[NormalizedName, Pin]:
    """Pins of a requirements file as uv writes it: `name==version` then its `--hash=...`
    words, continued over lines ending in a backslash; comment lines aside."""
    words = []
    for line in (ROOT / name).read_text().splitlines():
        line = line.strip().removesuffix("\\").strip()
        if line and not line.startswith("#"):
            words.extend(line.split())
    entries: list[tuple[str, list[str]]] = []
    for word in words:
        if word.startswith("--hash="):
            entries[-1][1].append(word.removeprefix("--hash="))
        else:
            entries.append((word, []))
    return {canonicalize_name(Requirement(spec).name): _pin(spec, h) for spec, h in entries}


def _pin(spec: str, hashes: list[str]) -> Pin:
    specifiers = list(Requirement(spec).specifier)
    assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{spec} is not pinned"
    return Pin(Version(specifiers[0].version), tuple(hashes))


def declared(group: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    if group == "runtime":
        return [Requirement(r) for r in project["dependencies"]]
    return [Requirement(r) for r in project["optional-dependencies"][group]]


def applies(requirement: Requirement) -> bool:
    return requirement.marker is None or requirement.marker.evaluate(TARGET)


CASES = [
    ("requirements.lock", ["runtime"]),
    ("requirements-dev.lock", ["runtime", "dev"]),
]


@pytest.mark.parametrize(("lock", "groups"), CASES, ids=[lock for lock, _ in CASES])
def test_every_declared_dependency_is_pinned_within_its_range(lock, groups):
    pins = read_lock(lock)
    problems = []
    for group in groups:
        for requirement in filter(applies, declared(group)):
            pin = pins.get(canonicalize_name(requirement.name))
            if pin is None:
                problems.append(f"{requirement} ({group}) is not in {lock}")
            elif not requirement.specifier.contains(pin.version, prereleases=True):
                problems.append(f"{lock} pins {requirement.name}=={pin.version}, not {requirement}")
    assert not problems, "run `make lock`:\n" + "\n".join(problems)


@pytest.mark.parametrize("lock", [lock for lock, _ in CASES])
def test_every_pin_carries_hashes(lock):
    pins = read_lock(lock)
    assert len(pins) > 20, f"{lock} looks empty or unreadable"
    bare = sorted(name for name, pin in pins.items() if not pin.hashes)
    assert not bare, f"pinned without a hash in {lock}: {bare}"
    weak = sorted(
        name for name, pin in pins.items() if not all(h.startswith("sha256:") for h in pin.hashes)
    )
    assert not weak, f"hashes other than sha256 in {lock}: {weak}"


def test_the_dev_lock_runs_the_tests_against_what_is_deployed():
    """requirements-dev.lock is compiled under requirements.lock's pins (`make lock`), so the
    suite runs the very versions the image installs."""
    runtime, dev = read_lock("requirements.lock"), read_lock("requirements-dev.lock")
    differ = {
        name: (pin.version, dev[name].version if name in dev else None)
        for name, pin in runtime.items()
        if name not in dev or dev[name].version != pin.version
    }
    assert not differ, f"runtime pins (image, dev) that differ: {differ}; run `make lock`"
