"""The web process's worker (failover/gthread.py): connections that say nothing cost no thread.

gunicorn as the Dockerfile runs it (`-c gunicorn.conf.py`: 3 workers x 4 threads), on loopback.
Against stock gthread (gunicorn 24 and later), 48 silent connections made the next request
wait 35 s; the first test fails there (put `worker_class = "gthread"` back to see it).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from tests.harness.gunicorn import halt, launch
from tests.harness.ports import free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "log"
    env = {**os.environ, "PORT": str(port), "GUNICORN_KEEPALIVE": "1", "GUNICORN_ACCESS_LOG": ""}
    argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
    argv += ["tests.harness.hello_wsgi:app"]
    process = launch(argv, env, log, f"http://127.0.0.1:{port}/")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        halt(process, log)


def _silent(url: str, count: int) -> list[socket.socket]:
    port = int(url.rsplit(":", 1)[1])
    return [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]


def test_silent_connections_do_not_hold_up_requests(server):
    """Four times the threads of the whole server, connected and saying nothing (browsers'
    preconnects, a slow or hostile client): everyone else is still answered at once."""
    silent = _silent(server, 48)
    try:
        time.sleep(0.3)  # every one accepted
        for _ in range(5):
            started = time.monotonic()
            assert requests.post(server, data=b"ping", timeout=5).content == b"ping"
            assert time.monotonic() - started < 1
    finally:
        for sock in silent:
            sock.close()


def test_a_connection_that_never_speaks_is_closed(server):
    """It waits in the poller no longer than stock gthread allowed it (5 s on a thread, then
    `keepalive` pending: 6 s here), so silent connections cannot pile up to the worker's
    connection limit."""
    (sock,) = _silent(server, 1)
    sock.settimeout(15)
    started = time.monotonic()
    assert sock.recv(1) == b""  # the server closed it
    assert 5 < time.monotonic() - started < 10
    sock.close()


def test_a_connection_serves_one_request_after_another(server):
    """Keep-alive as before: the pollers of a page reuse their connection."""
    with requests.Session() as session:
        for body in (b"one", b"two", b"three"):
            assert session.post(server, data=body, timeout=5).content == body
