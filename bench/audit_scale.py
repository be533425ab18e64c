"""Benchmark: verifying and exporting the audit log at millions of events.

    .venv/bin/python bench/audit_scale.py                           # 1,000,000 then 3,000,000
    .venv/bin/python bench/audit_scale.py --events 20000 60000      # a quick look

One PostgreSQL database of the benchmark's own grows to each size in turn (`failover.demo.scale.
seed_events`, what `manage.py seed_scale` appends with), and the backlog is checkpointed as the
worker would (signed with a key of the run's own, written to a checkpoint directory). At each
size it times:
  verify_chain      the chain alone in this process, 1 worker and 2 (target >= 100,000/s);
  API job           POST /api/v1/audit-events/verify/ -> 202, polled until done, through
                    gunicorn (gunicorn.conf.py: gthread, as the Dockerfile runs it) and a
                    Celery worker (prefork, as docker-compose runs it): the chain and the
                    checkpoints (audit.evidence.verify_all), with the progress seen meanwhile;
  export            GET /api/v1/audit-events/export/ through the same gunicorn, with curl:
                    bytes, events, seconds, and whether it ends with a complete trailer;
  offline verifier  audit/offline_verify.py --contiguous against the checkpoints and the
                    public key, on that file.
Prints the figures and appends one row per size to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from common import PYTHON, ROOT, healthy, record, scratch, stack

from tests.harness.ports import free_port

SIZES = [1_000_000, 3_000_000]
POLL_SECONDS = 0.5


def seed_to(events: int) -> float:
    """Append events until the chain holds `events` -> seconds it took."""
    from django.db.models import Max

    from audit.models import AuditEvent
    from failover.demo.scale import analyze, seed_events

    have = AuditEvent.objects.aggregate(last=Max("seq"))["last"] or 0
    started = time.monotonic()
    if events > have:
        count, shown = events - have, [0]

        def progress(message: str) -> None:  # about ten lines a size
            appended = int(message.split("/")[0])
            if appended - shown[0] >= count // 10 or appended == count:
                shown[0] = appended
                print(f"    {message}", flush=True)

        seed_events(events - have, progress=progress)
        analyze()
    return time.monotonic() - started


def checkpoint_backlog() -> tuple[float, int]:
    """Take checkpoints until the head is signed, as the worker's runs would -> (seconds,
    checkpoints taken)."""
    from audit.checkpoints import take_checkpoint

    started, taken = time.monotonic(), 0
    while True:
        outcome = take_checkpoint()
        if outcome.status not in ("taken", "unchanged"):
            raise SystemExit(f"checkpoint not taken: {outcome.status} {outcome.message}")
        taken += outcome.status == "taken"
        if not outcome.more:
            return time.monotonic() - started, taken


def verify_rates() -> dict[int, dict]:
    from audit.verify import verify_chain

    found = {}
    for workers in (1, 2):
        started = time.monotonic()
        result = verify_chain(workers=workers)
        seconds = time.monotonic() - started
        assert result.ok, result
        found[workers] = {"events": result.verified, "seconds": seconds}
    return found


def api(url: str, token: str, method: str = "GET") -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())


def api_job(base: str, token: str) -> dict:
    """POST the verification, poll it until it ends -> figures."""
    started = time.monotonic()
    status, job = api(base + "/api/v1/audit-events/verify/", token, "POST")
    assert status == 202, (status, job)
    seen = []  # progress while running
    while job["state"] in ("queued", "running"):
        time.sleep(POLL_SECONDS)
        _, job = api(job["url"], token)
        if job["state"] == "running" and 0 < job["verified"] < (job["total"] or 0):
            seen.append(job["verified"])
    seconds = time.monotonic() - started
    return {
        "state": job["state"],
        "ok": job["ok"],
        "verified": job["verified"],
        "reason": job["reason"],
        "seconds": seconds,
        "progress_seen": len(seen),
        "checkpoints": job["checkpoints"].get("checked"),
        "worker_seconds": _between(job["started_at"], job["finished_at"]),
    }


def _between(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def export(base: str, token: str, path: Path) -> dict:
    started = time.monotonic()
    argv = ["curl", "-sS", "-o", str(path), "-w", "%{http_code} %{size_download}"]
    argv += ["-H", f"Authorization: Bearer {token}", base + "/api/v1/audit-events/export/"]
    out = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.monotonic() - started
    status, size = [*out.stdout.split(), "0", "0"][:2]
    lines, last = 0, b""
    with path.open("rb") as data:
        for line in data:
            lines += 1
            last = line
    try:
        trailer = json.loads(last).get("trailer") or {}
    except ValueError:
        trailer = {}
    return {
        "status": int(status),
        "curl": out.returncode,
        "bytes": int(size),
        "events": lines - bool(trailer),
        "seconds": seconds,
        "complete": trailer.get("complete") is True and trailer.get("count") == lines - 1,
    }


def offline(path: Path, checkpoints: Path, public: str) -> dict:
    argv = [PYTHON, str(ROOT / "audit" / "offline_verify.py"), "--contiguous"]
    argv += ["--checkpoints", str(checkpoints), "--public-key", public, str(path)]
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True)
    return {
        "ok": done.returncode == 0,
        "seconds": time.monotonic() - started,
        "said": (done.stdout + done.stderr).strip().splitlines()[-1:],
    }


def gunicorn(processes, env: dict) -> str:
    """gunicorn with the repository's config (gthread), as the Dockerfile runs it."""
    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")]
    argv += ["--bind", f"127.0.0.1:{port}", "failover.wsgi"]
    process = processes._start("gunicorn", argv, {**env, "GUNICORN_ACCESS_LOG": ""})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("gunicorn did not start: " + processes.log("gunicorn")[-3000:])
        time.sleep(0.2)
    return url


def auditor_token() -> str:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from approvals.tokens import create_token

    auditor = get_user_model().objects.create(username="bench-auditor")
    auditor.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    return create_token(user=auditor, name="bench", actions=["audit"])[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=SIZES, help="sizes, in order")
    parser.add_argument("--no-record", action="store_true", help="print only (a trial run)")
    args = parser.parse_args()
    sizes = sorted(args.events)
    sys.path.insert(0, str(ROOT))
    from audit.signing import new_key

    key = new_key("bench")
    checkpoints = scratch("audit_checkpoints") / "checkpoints"
    audit_env = {
        "AUDIT_SIGNING_KEY": key.private_text(),
        "AUDIT_CHECKPOINT_DIR": str(checkpoints),
        "AUDIT_CHECKPOINT_S3_BUCKET": "",
        # Checkpoints are taken here, in order, not by the worker after each append.
        "AUDIT_CHECKPOINT_EVERY_EVENTS": str(10**9),
    }
    with stack("audit_scale", **audit_env) as (workdir, env, processes):
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        token = auditor_token()
        base = gunicorn(processes, env)
        processes.celery_worker(env, queues="celery", concurrency=1)
        rows = []
        for size in sizes:
            print(f"== {size:,} events (PostgreSQL, {os.cpu_count()} CPUs)", flush=True)
            seeding = seed_to(size)
            print(f"  seeded in {seeding:.0f} s", flush=True)
            signing, taken = checkpoint_backlog()
            print(f"  checkpointed the backlog in {signing:.1f} s ({taken} checkpoints)")
            load = os.getloadavg()[0]  # others' work on the machine slows every figure
            print(f"  load average before measuring: {load:.1f}")
            rates = verify_rates()
            for workers, found in rates.items():
                rate = found["events"] / found["seconds"]
                print(
                    f"  verify_chain, {workers} worker(s): {found['events']:,} events in "
                    f"{found['seconds']:.1f} s = {rate:,.0f}/s",
                    flush=True,
                )
            job = api_job(base, token)
            print(
                f"  API job: {job['state']}, ok={job['ok']}, {job['verified']:,} verified, "
                f"{job['checkpoints']} checkpoints checked; POST to done {job['seconds']:.1f} s "
                f"(in the worker {job['worker_seconds']:.1f} s); progress seen "
                f"{job['progress_seen']} times {job['reason']}",
                flush=True,
            )
            path = workdir / f"export-{size}.jsonl"
            exported = export(base, token, path)
            print(
                f"  export: HTTP {exported['status']}, curl exit {exported['curl']}, "
                f"{exported['bytes'] / 1e6:,.0f} MB, {exported['events']:,} events in "
                f"{exported['seconds']:.1f} s ({exported['events'] / exported['seconds']:,.0f}"
                f"/s), trailer {'complete' if exported['complete'] else 'MISSING'}",
                flush=True,
            )
            checked = offline(path, checkpoints, key.public_text())
            print(
                f"  offline verifier: {'OK' if checked['ok'] else 'FAILED'} in "
                f"{checked['seconds']:.1f} s: {' '.join(checked['said'])}",
                flush=True,
            )
            path.unlink()
            rows.append((size, load, rates, job, exported, checked))
        log = processes.log("gunicorn") + processes.log("worker")
        timeouts = log.count("WORKER TIMEOUT") + log.count("TimeLimitExceeded")
    for size, load, rates, job, exported, checked in rows:
        one, two = (rates[w]["events"] / rates[w]["seconds"] for w in (1, 2))
        result = (
            f"{size:,} events: verify_chain {one:,.0f}/s (1 worker), {two:,.0f}/s (2); "
            f"API job {job['state']} ok={job['ok']} in {job['seconds']:.0f} s "
            f"({job['progress_seen']} progress polls); export {exported['bytes'] / 1e6:,.0f} MB "
            f"in {exported['seconds']:.0f} s, trailer "
            f"{'complete' if exported['complete'] else 'MISSING'}; offline verifier "
            f"{'OK' if checked['ok'] else 'FAILED'} in {checked['seconds']:.0f} s; load "
            f"average {load:.1f} at the start"
        )
        met = (
            one >= 100_000
            and job["state"] == "done"
            and job["ok"] is True
            and exported["status"] == 200
            and exported["complete"]
            and checked["ok"]
            and not timeouts
        )
        if args.no_record:
            continue
        record(
            "Audit at scale",
            result=result,
            baseline="gunicorn gthread (gunicorn.conf.py), Celery prefork, one database",
            target="verify >= 100,000 events/s; job done; export complete; offline OK",
            met=met,
            database="PostgreSQL",
        )


if __name__ == "__main__":
    sys.exit(main())
