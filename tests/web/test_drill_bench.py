"""bench/drill.py, the README's drill, played to the end: it stopped reaching "Applied" once
the readiness gate came in (its server served no demo targets) and nothing noticed, since
nothing ran it. Here it runs as a person would run it, as a subprocess against what `make run`
starts (bench/make_run.py), at phone width: a real failover, and a rehearsal (a drill, issue
17) with a veto lifted, which ends with its drill records put back: about 35 s each on
an idle 2-core machine (60 s when loaded), two thirds of it `make run` starting from nothing
(migrations, the demo, five processes)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.browser import available

ROOT = Path(__file__).resolve().parents[2]
# The drill's own bound (its watchdog adds 30 s); the subprocess's is a last resort past it.
DRILL_SECONDS = 150
HUMAN_STEPS = [
    ("ic", "declare checkout → failover"),
    ("avail", "approve as availability (password)"),
    ("identity", "approve as identity (password)"),
    ("ir", "sign off for incident response"),
]
VETO_STEPS = [
    ("identity", "veto with a reason (password)"),
    ("identity", "lift the veto"),
]
# The governance cost measured when this test was written: it may fall, never rise unseen.
MOST_CLICKS = {False: 8, True: 12}

pytestmark = pytest.mark.skipif(
    not available(), reason="needs Debian's chromium: apt-get install chromium"
)


def play(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    limit = ("--timeout", str(DRILL_SECONDS), "--workdir", str(workdir))
    return subprocess.run(
        [sys.executable, "bench/drill.py", *args, *limit],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DRILL_SECONDS + 60,
    )


def table(stdout: str) -> list[tuple[str, str, int, int, float]]:
    """The printed rows: person, step, clicks, fields, seconds."""
    row = re.compile(r"^(\S+)\s+(.+?)\s+(\d+)\s+(\d+)\s+(\d+\.\d\d)$")
    return [
        (m[1], m[2], int(m[3]), int(m[4]), float(m[5]))
        for m in map(row.match, stdout.splitlines())
        if m
    ]


@pytest.mark.parametrize("veto", [False, True], ids=["phone", "phone-rehearsal-veto"])
def test_the_drill_reaches_applied(tmp_path: Path, veto: bool) -> None:
    """The second run rehearses: Rehearse on the declare page, the same people, and the page
    shows Closed once the drill records are back."""
    result = play(tmp_path, *(["--veto", "--rehearse"] if veto else []))

    assert result.returncode == 0, f"the drill failed:\n{result.stderr[-4000:]}"
    rows = table(result.stdout)
    assert [r[1] for r in rows[:4]] == ["sign in"] * 4, result.stdout
    human = [(person, step) for person, step, *_ in rows[4:-1]]
    first = [("ic", "rehearse checkout → failover")] if veto else HUMAN_STEPS[:1]
    expected = first + HUMAN_STEPS[1:2] + (VETO_STEPS if veto else []) + HUMAN_STEPS[2:]
    assert human == expected, result.stdout
    assert all(clicks >= 1 for _, _, clicks, _, _ in rows[4:-1]), result.stdout
    end = "closed" if veto else "applied"
    assert rows[-1][:2] == ("system", f"{end}, seen on ic's open page"), result.stdout
    summary = re.search(r"After sign-in, (\d+) human steps: (\d+) clicks", result.stdout)
    assert summary, result.stdout
    assert int(summary[1]) == len(expected)
    assert int(summary[2]) <= MOST_CLICKS[veto], result.stdout
    assert f"{end.title()} on ic's page" in result.stdout
    banner_came_last(tmp_path)


# What `make run`'s processes print while they start: none of it may come after the banner.
START_UP = (
    "Starting development server",
    "Performing system checks",
    "Watching for file changes",
    "demo targets listening",
    "celery@",
    "beat: Starting",
    "Listening at",
)


def banner_came_last(workdir: Path) -> None:
    """The URL and the logins are the last thing `make run` prints as it starts (issue 17):
    after them come only the requests people make. Read from the drill's `make run` log."""
    log = (workdir / "make-run.log").read_text(errors="replace")
    banner = log.index("Failover approvals is running:")
    assert "Demo logins" in log[banner:]
    late = [line for line in log[banner:].splitlines() if any(s in line for s in START_UP)]
    assert late == [], late
