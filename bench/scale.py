"""Benchmark: list latency at scale, and how fast the audit chain verifies.

    .venv/bin/python bench/scale.py           # 1,000 services, 10,000 requests, 100,000 events
    .venv/bin/python bench/scale.py --full    # 10,000 / 100,000 / 1,000,000

Seeds two PostgreSQL databases of the benchmark's own with `manage.py seed_scale`: a small
one (10 services, 100 requests, 1,000 events) and the large one. In both, the viewer is an
incident commander whose team holds 10 services, so the same rows are visible and only the
size of everything around them differs. Measures, in a process with the production settings
(Django's test client, no network), the dashboard, /api/v1/services/,
/api/v1/failover-requests/ and /api/v1/audit-events/ (as an auditor) at both sizes: p50 and
the large/small ratio (target <= 1.5x). Then times `verify_audit` over the large chain
(target >= 100,000 events/s) next to merely reading the same rows. Appends a row to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import PYTHON, ROOT, Database, app_env, percentile, record, scratch

SMALL = {"services": 10, "requests": 100, "events": 1000}
DEFAULT = {"services": 1000, "requests": 10000, "events": 100000}
FULL = {"services": 10000, "requests": 100000, "events": 1000000}
PAGES = {
    "dashboard /": "/",
    "GET /api/v1/services/": "/api/v1/services/",
    "GET /api/v1/failover-requests/": "/api/v1/failover-requests/",
    "GET /api/v1/audit-events/": "/api/v1/audit-events/",
}
SAMPLES = 30
ROUNDS = 6


def measure(names: list[str]) -> dict:
    """In the benchmark's subprocess (settings from the environment): the latency of each
    page in each database (alternating between them, so load from elsewhere on the machine
    falls on both alike), then the verification rate of the last database's audit chain."""
    import django

    django.setup()
    from django.db import connection

    timings: dict[str, dict[str, list[float]]] = {n: {p: [] for p in PAGES} for n in names}
    clients = {}
    for name in names:
        _use(connection, name)
        clients[name] = _clients()
    for _ in range(ROUNDS):
        for name in names:
            _use(connection, name)
            for label, path in PAGES.items():
                client = clients[name][label]
                client.get(path)  # after switching databases: connect, warm up
                for _ in range(SAMPLES // ROUNDS):
                    started = time.perf_counter()
                    response = client.get(path)
                    timings[name][label].append(time.perf_counter() - started)
                    assert response.status_code == 200, (path, response.status_code)
    found: dict = {
        name: {
            label: {"p50": percentile(times, 0.5), "p90": percentile(times, 0.9)}
            for label, times in pages.items()
        }
        for name, pages in timings.items()
    }
    found["verify"], found["read"] = _verify()
    return found


def _use(connection, name: str) -> None:
    connection.close()
    connection.settings_dict["NAME"] = name


def _clients() -> dict:
    """A signed-in browser for the team's incident commander, API clients for them and for
    an auditor, keyed by page."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client

    from approvals.tokens import create_token
    from failover.demo.scale import member

    viewer = get_user_model().objects.get(username=member("scale", 0, "declarer"))
    auditor = get_user_model().objects.create(username="bench-auditor")
    auditor.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    browser = Client()
    browser.force_login(viewer)
    reading = create_token(user=viewer, name="bench", actions=["read"])[1]
    auditing = create_token(user=auditor, name="bench", actions=["audit"])[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {reading}")
    audit = Client(HTTP_AUTHORIZATION=f"Bearer {auditing}")
    return {
        label: browser if path == "/" else audit if "audit" in path else api
        for label, path in PAGES.items()
    }


def _verify() -> tuple[dict, dict]:
    from audit.chain import COLUMNS
    from audit.models import AuditEvent
    from audit.verify import verify_chain

    # As `manage.py verify_audit` runs it: parts in one process per CPU (at most 4).
    workers = min(4, os.cpu_count() or 1)
    started = time.perf_counter()
    result = verify_chain(workers=workers)
    verify = {"ok": result.ok, "events": result.verified, "seconds": time.perf_counter() - started}
    verify["workers"] = workers
    started = time.perf_counter()
    rows = AuditEvent.objects.values_list(*COLUMNS).iterator(chunk_size=2000)
    read = {"events": sum(1 for _ in rows), "seconds": time.perf_counter() - started}
    return verify, read


def run(argv: list[str], env: dict) -> str:
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(
            f"{' '.join(argv[1:3])} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    return done.stdout


def prepare(database: Database, workdir: Path, size: dict) -> tuple[dict, str]:
    """Migrate and seed one database -> (its environment, the seeding summary line)."""
    env = app_env(workdir, database.create().url)
    manage = [PYTHON, "manage.py"]
    run([*manage, "migrate", "--noinput", "-v0"], env)
    flags = [f"--{key}={value}" for key, value in size.items()]
    out = run([*manage, "seed_scale", *flags], env)
    return env, out.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="10,000 / 100,000 / 1,000,000")
    parser.add_argument("--services", type=int)
    parser.add_argument("--requests", type=int)
    parser.add_argument("--events", type=int)
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    size = dict(FULL if args.full else DEFAULT)
    size.update({k: getattr(args, k) for k in size if getattr(args, k) is not None})
    workdir = scratch("scale")
    small, large = Database("scale_small"), Database("scale_large")
    try:
        prepare(small, workdir, SMALL)
        started = time.monotonic()
        env, seeded = prepare(large, workdir, size)
        seeding = time.monotonic() - started
        me = [PYTHON, str(Path(__file__).resolve()), "--measure", small.name, large.name]
        found = json.loads(run(me, env).strip().splitlines()[-1])
        at_small, at_large = found[small.name], found[large.name]
    finally:
        small.drop()
        large.drop()

    print(
        f"scale: {size['services']:,} services, {size['requests']:,} requests, "
        f"{size['events']:,} audit events against 10 / 100 / 1,000, PostgreSQL, "
        f"{os.cpu_count()} CPUs; the viewer's team holds 10 services in both"
    )
    print(f"  seeding (migrate + seed_scale): {seeding:.0f} s; {seeded}")
    worst = 0.0
    cells = []
    for label in PAGES:
        a, b = at_small[label], at_large[label]
        ratio = b["p50"] / a["p50"]
        worst = max(worst, ratio)
        cells.append(f"{label.removeprefix('GET ')} {b['p50'] * 1000:.1f} ms ({ratio:.2f}x)")
        print(
            f"  {label:32}: small p50 {a['p50'] * 1000:7.1f} ms  large p50 "
            f"{b['p50'] * 1000:7.1f} ms (p90 {b['p90'] * 1000:7.1f})  ratio {ratio:5.2f}x"
        )
    verify, read = found["verify"], found["read"]
    rate = verify["events"] / verify["seconds"]
    read_rate = read["events"] / read["seconds"]
    print(f"  worst ratio: {worst:.2f}x (target <= 1.5)")
    print(
        f"  verify_audit ({verify['workers']} processes): {verify['events']:,} events in "
        f"{verify['seconds']:.1f} s = "
        f"{rate:,.0f} events/s, chain {'OK' if verify['ok'] else 'BROKEN'} (target >= 100,000/s)"
    )
    print(f"  reading the same rows without hashing: {read_rate:,.0f} events/s")
    record(
        "Scale",
        result=f"{size['services']:,}/{size['requests']:,}/{size['events']:,}: "
        + "; ".join(cells)
        + f"; verify_audit {rate:,.0f} events/s",
        baseline=f"10/100/1,000 in the same run; reading rows alone {read_rate:,.0f}/s",
        target="<= 1.5x of 10 services; verify >= 100,000 events/s",
        met=worst <= 1.5 and rate >= 100_000 and verify["ok"],
        database="PostgreSQL",
    )


if __name__ == "__main__":
    sys.exit(main())
