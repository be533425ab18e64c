"""gunicorn's gthread worker, but a new connection waits for its first bytes in the poller, not
on a thread (gunicorn.conf.py's `worker_class`).

Since gunicorn 24, gthread hands every accepted connection straight to a thread, which waits
up to 5 s for the request to arrive. A connection that says nothing (a browser's preconnect,
a slow or hostile client: nothing more than `nc host 8000`) holds that thread all that time,
and the ones behind it queue for the threads in turn: measured against gunicorn 27.0.1 as
configured here (3 workers x 4 threads), 24 silent connections made the next request wait 25 s,
48 of them 35 s. gunicorn 23 waited in the poller, which costs no thread; this does the same
with gunicorn's own "pending" path (the one it uses after those 5 s): the connection is
registered for reading, handed to a thread when its first bytes are there, and closed if
none come in the time stock gthread allows (5 s + `keepalive`).
tests/test_gunicorn_worker.py holds it to that.
"""

from __future__ import annotations

import errno
import selectors
import time
from functools import partial
from socket import socket

from gunicorn.workers.gthread import (  # type: ignore[import-untyped]
    DEFAULT_WORKER_DATA_TIMEOUT,
    TConn,
    ThreadWorker,
)


class PollFirstWorker(ThreadWorker):
    def accept(self, listener: socket) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())  # non-blocking
        # As long as stock gthread gives it (on a thread, then pending), so no client that was
        # served before is refused; appended with the latest deadline, as murder_pending() wants.
        conn.timeout = time.monotonic() + DEFAULT_WORKER_DATA_TIMEOUT + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn)
        )
