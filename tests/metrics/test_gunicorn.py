"""Under gunicorn with several worker processes, /metrics sums django-prometheus's counters
over every worker (prometheus_client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR with
gunicorn.conf.py's hooks): whichever worker answers the scrape, the count is the same."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.harness.broker import Broker
from tests.harness.gunicorn import Gunicorn
from tests.harness.worker import ROOT
from tests.metrics.scrape import TOKEN, samples

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 3
COUNTED = "django_http_requests_total_by_view_transport_method_total"


@pytest.fixture
def web(tmp_path, zone_dir):
    broker = Broker(tmp_path / "broker").start()
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "stale-from-before.db").write_bytes(b"old run")  # emptied at start
    harness = Gunicorn(
        broker, tmp_path, zone_dir, METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(folder)
    )
    # gunicorn reads gunicorn.conf.py (its hooks) from the working directory, as in the image.
    argv = [sys.executable, "-m", "gunicorn", "failover.wsgi", "--workers", str(WORKERS)]
    argv += ["--bind", f"127.0.0.1:{harness.port}"]
    with open(tmp_path / "gunicorn.log", "w") as log:
        process = subprocess.Popen(argv, cwd=ROOT, env=harness.env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(harness.url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (
                tmp_path / "gunicorn.log"
            ).read_text()[-3000:]
            time.sleep(0.2)
        yield harness.url, process, folder
    finally:
        process.terminate()
        process.wait(20)
        broker.stop()


def counted(url: str) -> float:
    answer = requests.get(
        url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text[:300]
    return sum(
        v
        for (name, labels), v in samples(answer.text).items()
        if name == COUNTED and dict(labels)["view"] not in ("metrics", "healthz", "readyz")
    )


def worker_pids(process: subprocess.Popen) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(process.pid)], capture_output=True, text=True
    ).stdout
    return [int(pid) for pid in out.split()]


@pytest.mark.skipif(shutil.which("ps") is None, reason="needs ps (procps) to find the workers")
def test_every_scrape_sums_all_workers(web):
    url, process, folder = web
    assert not (folder / "stale-from-before.db").exists()
    for _ in range(30):
        # A new connection each time: the kernel hands them to different workers.
        assert requests.get(url + "/login/", timeout=10).status_code == 200
    assert len({f.name for f in folder.glob("counter_*.db")}) > 1, "one worker took them all"
    assert [counted(url) for _ in range(8)] == [30] * 8

    # A worker that dies is replaced; what it counted is still summed.
    pids = worker_pids(process)
    assert len(pids) == WORKERS
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 20
    while set(worker_pids(process)) & {pids[0]} or len(worker_pids(process)) < WORKERS:
        assert time.monotonic() < deadline, "gunicorn did not replace the worker"
        time.sleep(0.2)
    assert [counted(url) for _ in range(5)] == [30] * 5
