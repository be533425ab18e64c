"""Benchmark: browsers watching one request page during an incident (the live polls).

    .venv/bin/python bench/poll_load.py [--browsers 200] [--seconds 30] [--every 2]

gunicorn as docker-compose's web service starts it (`gunicorn -c gunicorn.conf.py
failover.wsgi`: gthread, its default workers and threads), the production settings (DEBUG
off), PostgreSQL and a Redis cache, on a database of the benchmark's own: the demo
organisation, `--browsers` more people spread over its authority groups, one open request on
checkout (readiness reported, one approval). Each person signs in (a session of their own) and
opens the request page; then wrk, in another process on loopback, plays their browsers: one
poller each (the page's one poll, carrying the version of each of its parts), waiting `--every`
seconds after each answer, about as a page does (app.js asks every 2 s, never two at once).
Latency is per poll, the wait excluded, timed by bench/poll.lua for the polls sent in the
`--seconds` after `--warmup` seconds of the same load (one wrk run: wrk's own start, every
connection opened at once and silent until its first poll, is no browser's; poll.lua says
why it is left out).

Baselines, in the same run and against the same sessions: (1) three pollers a page, one per
part, with the memo, as pages polled before the one poll a page; (2) three pollers a page on a
gunicorn whose memo is off (bench/settings_poll_baseline.py), so every poll builds its part:
what every poll did before issue 16. **Target:** p99 <= 100 ms. Prints p50/p95/p99, requests/s
and answers by status for each, and appends a row to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import PYTHON, _wait, healthy, ms, record, stack

from tests.harness.ports import free_port

PARTS = ("status", "actions", "record")
POLL_SCRIPT = Path(__file__).with_name("poll.lua")


def seed(browsers: int) -> tuple[int, list[str]]:
    """-> (the request's id, one session cookie per browser)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.test import Client

    from approvals.readiness.checks.base import IDENTITY_CRITICAL, CheckResult
    from approvals.readiness.services import store_results
    from approvals.services import record_decision
    from failover.demo.data import GROUP_AUTHORITIES
    from failover.demo.seed import seed_demo
    from failover.models import Service
    from failover.services import declare_request

    call_command("migrate", verbosity=0)
    seed_demo()
    people = get_user_model().objects
    request = declare_request(
        actor=people.get(username="ic"),
        service=Service.objects.get(slug="checkout"),
        target="failover",
        reason="bench: eu-west-1 is down",
        incident_ref="INC-BENCH",
    )
    store_results(
        request,
        request.to_target,
        [CheckResult(kind, True, "fine") for kind in (*IDENTITY_CRITICAL, "health")],
    )
    record_decision(
        actor=people.get(username="avail"),
        request_id=request.pk,
        kind="approve",
        role="availability",
        plan_hash=request.plan_hash,
    )
    groups = list(Group.objects.filter(name__in=GROUP_AUTHORITIES).order_by("name"))
    cookies = []
    for i in range(browsers):
        person = people.create_user(f"watcher-{i:03d}", password=None)
        person.groups.add(groups[i % len(groups)])
        client = Client()
        client.force_login(person)
        cookies.append(f"sessionid={client.cookies['sessionid'].value}")
    return request.pk, cookies


def start_gunicorn(
    processes: Any, env: dict[str, str], settings: str
) -> tuple[str, subprocess.Popen]:
    """gunicorn as the compose web service runs it, with only the port and settings set."""
    port = free_port()
    env = {**env, "PORT": str(port), "DJANGO_SETTINGS_MODULE": settings}
    argv = [PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py", "failover.wsgi"]
    process = processes._start(f"gunicorn-{settings}", argv, env)
    url = f"http://127.0.0.1:{port}"
    _wait(lambda: healthy(url) or process.poll() is not None, "gunicorn")
    if process.poll() is not None:
        raise RuntimeError("gunicorn exited: " + processes.log(f"gunicorn-{settings}")[-3000:])
    return url, process


def open_pages(url: str, pk: int, cookies: list[str], *, per_part: bool) -> list[str]:
    """Every browser opens the page -> the polls they then send ("COOKIE PATH" lines): the
    page's one poller, or (`per_part`, as pages polled before it) one poll per part."""

    def one(cookie: str) -> list[str]:
        get = urllib.request.Request(f"{url}/requests/{pk}/", headers={"Cookie": cookie})
        with urllib.request.urlopen(get, timeout=60) as response:
            page = response.read().decode()
        if not per_part:
            found = re.search(r'id="request-live"[^>]*hx-get="([^"]+)"', page)
            if found is None:
                raise RuntimeError("the page has no poller: signed in?")
            return [f"{cookie} {found.group(1).replace('&amp;', '&')}"]
        lines = []
        for part in PARTS:
            found = re.search(rf'id="request-{part}"[^>]*data-version="(\w+)"', page)
            if found is None:
                raise RuntimeError(f"the page has no {part} fragment: signed in?")
            lines.append(f"{cookie} /requests/{pk}/live/{part}/?v={found.group(1)}")
        return lines

    with ThreadPoolExecutor(6) as pool:
        return [line for lines in pool.map(one, cookies) for line in lines]


def poll(
    url: str, polls: Path, *, connections: int, warmup: float, seconds: float, pause_ms: int
) -> dict:
    """One wrk run of `warmup` + `seconds`; only polls sent after the warmup are counted
    (bench/poll.lua says why), their latencies timed by the script."""
    latencies = polls.with_suffix(".latencies")
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{round(warmup + seconds)}s", "--timeout", "10s"]
    argv += ["-s", str(POLL_SCRIPT), url, "--", str(polls), str(pause_ms), str(warmup)]
    argv += [str(latencies)]
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next(x for x in output.splitlines() if x.startswith("BENCH "))
    found = json.loads(line[len("BENCH ") :])
    counted = sorted(int(x) / 1e6 for x in latencies.read_text().split())
    if not counted:
        raise RuntimeError("no poll was answered after the warmup: " + output[-2000:])
    found["counted"] = len(counted)
    found["rps"] = len(counted) / seconds
    for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        found[name] = counted[min(len(counted) - 1, int(q * len(counted)))]
    found["max"] = counted[-1]
    return found


def measure(
    processes: Any,
    env: dict[str, str],
    settings: str,
    pk: int,
    cookies: list[str],
    args: argparse.Namespace,
    *,
    per_part: bool,
) -> dict:
    url, process = start_gunicorn(processes, env, settings)
    try:
        polls = Path(processes.workdir) / f"polls-{settings}-{per_part}.txt"
        lines = open_pages(url, pk, cookies, per_part=per_part)
        polls.write_text("\n".join(lines) + "\n")
        return poll(
            url,
            polls,
            connections=len(lines),
            warmup=args.warmup,
            seconds=args.seconds,
            pause_ms=round(args.every * 1000),
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(90)  # graceful_timeout (60 s) for requests still under way
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def line(label: str, run: dict) -> str:
    return (
        f"  {label:22}: {run['rps']:6.0f} req/s  p50 {ms(run['p50']):>9}  "
        f"p95 {ms(run['p95']):>9}  p99 {ms(run['p99']):>9}  max {ms(run['max']):>9}  "
        f"200: {run['s200']}, 204: {run['s204']}, other: {run['other']}, errors {run['errors']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browsers", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between polls")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    with stack("poll") as (_, env, processes):
        pk, cookies = seed(args.browsers)
        print(f"{args.browsers} browsers, each page polling every {args.every:g} s")
        after = measure(processes, env, "bench.settings", pk, cookies, args, per_part=False)
        print(line("one poll a page, memo", after), flush=True)
        parts = measure(processes, env, "bench.settings", pk, cookies, args, per_part=True)
        print(line("3 polls a page, memo", parts), flush=True)
        before = measure(
            processes, env, "bench.settings_poll_baseline", pk, cookies, args, per_part=True
        )

    print(line("baseline: 3 polls, full", before))
    met = after["p99"] <= 0.1 and not after["other"] and not after["errors"]
    record(
        "Live polls",
        result=(
            f"{args.browsers} browsers, one poll a page every {args.every:g} s: "
            f"{after['rps']:.0f}/s, "
            f"p50 {ms(after['p50'])}, p95 {ms(after['p95'])}, p99 {ms(after['p99'])}, "
            f"{after['errors']} timed out (10 s); "
            f"load average {load_at_start:.1f} at the start"
        ),
        baseline=(
            f"3 polls a page with the memo: {parts['rps']:.0f}/s, p99 {ms(parts['p99'])}; "
            f"3 polls, full build: {before['rps']:.0f}/s, p50 {ms(before['p50'])}, "
            f"p95 {ms(before['p95'])}, p99 {ms(before['p99'])}, "
            f"{before['errors']} timed out (10 s)"
        ),
        target="p99 <= 100 ms",
        met=met,
        database="PostgreSQL",
    )


if __name__ == "__main__":
    main()
