"""What a process keeps for good is frozen once it is loaded (failover/heap.py): the garbage
collector's full collections then walk only what requests and tasks allocate."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# In a process of its own: frozen objects stay frozen, which the test runner should not be.
LOADED_AS_GUNICORN_DOES = """
import gc, json, runpy
import failover.wsgi  # what gunicorn's worker loads before post_worker_init
before = len(gc.get_objects())
runpy.run_path("gunicorn.conf.py")["post_worker_init"](None)
print(json.dumps({"before": before, "walked": len(gc.get_objects()),
                  "frozen": gc.get_freeze_count()}))
"""


def test_a_web_worker_freezes_what_it_loaded():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "failover.settings"}
    env.setdefault("SECRET_KEY", "heap-test")
    out = subprocess.run(
        [sys.executable, "-c", LOADED_AS_GUNICORN_DOES],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    # Django, the project's apps and the URLconf's views: well over 10^5 objects, of which a
    # full collection now walks almost none.
    assert seen["frozen"] > 50_000, seen
    assert seen["walked"] < seen["frozen"] / 20, seen
