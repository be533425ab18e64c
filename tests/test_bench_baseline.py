"""The benchmarks' bare baseline endpoints (bench/baseline.py) are no part of the product: the
product's URLconf never routes them, whatever the environment says, and the benchmarks'
URLconf (bench/urls.py) routes them only with BENCH_BASELINE=1. Each probe is a fresh process,
because the URLconfs read the environment when they are imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import django
django.setup()
from django.urls import Resolver404, resolve
try:
    resolve("/bench/constant/", urlconf="{urlconf}")
except Resolver404:
    print("not routed")
else:
    print("routed")
"""


def routed(urlconf: str, flag: str) -> bool:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "BENCH_BASELINE": flag}
    probe = PROBE.format(urlconf=urlconf)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1] == "routed"


def test_the_product_never_routes_the_baselines_even_when_asked():
    assert not routed("failover.urls", "1")


def test_the_benchmarks_route_them_only_when_asked():
    assert routed("bench.urls", "1")
    assert not routed("bench.urls", "0")
