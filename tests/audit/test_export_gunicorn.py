"""The audit export under gunicorn as the Dockerfile runs it (gunicorn.conf.py): a download
that takes longer than gunicorn's `timeout` still ends with its trailer. With sync workers (the
Dockerfile's old command) the same download is cut when the arbiter kills the worker, which
sends no heartbeat while it streams: that was the 200 with a truncated file.

The worker timeout here is 2 s, and the client reads slowly (a small receive buffer, a pause
between reads), so the response lasts several times that: a slow network, as a reviewer
downloading a few million events from far away would have."""

from __future__ import annotations

import http.client
import json
import socket
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission

from audit.models import AuditEvent
from tests.factories import user
from tests.harness.gunicorn import halt, launch
from tests.harness.ports import free_port
from tests.harness.worker import ROOT, Worker
from tests.tokens import personal_token

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
EVENTS = 30_000  # ~12 MB of JSON Lines: far more than the socket buffers hold
TIMEOUT = 2


def start_gunicorn(workdir: Path, zone_dir: Path, *extra: str):
    """gunicorn with the repository's gunicorn.conf.py (one worker, a 2 s timeout), sharing
    the test database. -> (process, url, log path)"""
    port = free_port()
    log = workdir / f"gunicorn-{port}.log"
    env = Worker(SimpleNamespace(env={}), workdir, zone_dir).env
    env.update(WEB_CONCURRENCY="1", GUNICORN_THREADS="2", GUNICORN_TIMEOUT=str(TIMEOUT))
    argv = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")]
    argv += ["--bind", f"127.0.0.1:{port}", *extra, "failover.wsgi"]
    process = launch(argv, env, log, f"http://127.0.0.1:{port}/healthz")
    return process, port, log


def slow_download(port: int, token: str) -> tuple[int, bytes, str, float]:
    """GET the export reading 16 KiB at a time with a pause, through a 16 KiB receive buffer.
    -> (status, body as received, the error that ended it or "", seconds)"""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # no window auto-tuning
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.sock = sock
    started = time.monotonic()
    conn.request(
        "GET", "/api/v1/audit-events/export/", headers={"Authorization": f"Bearer {token}"}
    )
    response = conn.getresponse()
    body, error = bytearray(), ""
    try:
        while chunk := response.read(16384):
            body += chunk
            time.sleep(0.01)
    except (http.client.IncompleteRead, OSError) as exc:
        error = type(exc).__name__
    finally:
        conn.close()
    return response.status, bytes(body), error, time.monotonic() - started


def test_a_long_export_streams_to_its_trailer_and_a_sync_worker_would_cut_it(tmp_path, zone_dir):
    from failover.demo.scale import seed_events

    seed_events(EVENTS)
    auditor = user("auditor")
    auditor.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    _, token = personal_token(auditor, name="export")
    total = AuditEvent.objects.count()

    process, port, log = start_gunicorn(tmp_path, zone_dir)
    try:
        status, body, error, seconds = slow_download(port, token)
    finally:
        halt(process, log)
    assert status == 200 and error == ""
    assert seconds > 2 * TIMEOUT  # it did outlast the worker timeout
    *events, last = body.decode().splitlines()
    trailer = json.loads(last)["trailer"]
    assert trailer["complete"] is True and trailer["count"] == len(events) == total
    assert json.loads(events[-1])["seq"] == trailer["last_seq"]
    assert "Using worker: failover.gthread.PollFirstWorker" in log.read_text()
    assert "WORKER TIMEOUT" not in log.read_text()

    # The same download from a sync worker: killed mid-stream, after the 200 had been sent.
    process, port, log = start_gunicorn(tmp_path, zone_dir, "-k", "sync", "--threads", "1")
    try:
        status, cut, error, seconds = slow_download(port, token)
    finally:
        halt(process, log)
    # A sync worker answers without chunked encoding, so the body ends where the connection
    # does: to HTTP the cut file looks complete (no error here); only the trailer's absence,
    # checked by the offline verifier, gives it away.
    assert status == 200, error
    assert b'"trailer"' not in cut and len(cut) < len(body)
    assert "Using worker: sync" in log.read_text() and "WORKER TIMEOUT" in log.read_text()
