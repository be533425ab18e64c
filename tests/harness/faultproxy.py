"""An HTTP proxy in front of moto's Route 53 that behaves like the real service on a bad day.

moto answers every change INSYNC at once, with one static change id, and never throttles.
This proxy gives each change its own id, answers PENDING for the first N polls of it, and
injects Throttling, PriorRequestNotComplete, 5xx and dropped connections at a chosen rate —
including drops *after* the request reached moto, the case where a change landed but its
caller never heard back.
"""

from __future__ import annotations

import http.client
import itertools
import random
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERROR_XML = (
    '<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
    "<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
    "<RequestId>fault-proxy</RequestId></ErrorResponse>"
)
FAULTS = ("throttle", "prior", "5xx", "drop_before", "drop_after")


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, seed: int = 1):
        self.upstream = (upstream_host, upstream_port)
        self.fault_rate = 0.0
        self.faults = FAULTS
        self.pending_polls = 0
        self.hang_after_change = 0.0  # seconds to sit on a forwarded change before answering
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.polls: dict[str, int] = {}
        self.real_id: dict[str, str] = {}
        self.stats = {"requests": 0, "changes_forwarded": 0, **{f: 0 for f in FAULTS}}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: with Nagle's algorithm on a kept-alive
            # connection the body waits for the client's delayed ACK (~40 ms a call).
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy.handle(self)

            def do_POST(self):
                proxy.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.fault_rate, self.pending_polls, self.faults = 0.0, 0, FAULTS
            self.hang_after_change = 0.0
            self.stats = {"requests": 0, "changes_forwarded": 0, **{f: 0 for f in FAULTS}}

    def _pick_fault(self) -> str | None:
        with self.lock:
            self.stats["requests"] += 1
            if self.fault_rate and self.rng.random() < self.fault_rate:
                fault = self.rng.choice(self.faults)
                self.stats[fault] += 1
                return fault
        return None

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        path = handler.path
        fault = self._pick_fault()
        if fault == "drop_before":
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        if fault in ("throttle", "prior", "5xx"):
            code, status = {
                "throttle": ("Throttling", 400),
                "prior": ("PriorRequestNotComplete", 400),
                "5xx": ("ServiceUnavailable", 503),
            }[fault]
            self._reply(handler, status, ERROR_XML.format(code=code, message="injected").encode())
            return
        change_poll = re.search(r"/change/([A-Za-z0-9]+)$", path)
        if change_poll and handler.command == "GET":
            fake = change_poll.group(1)
            with self.lock:
                seen = self.polls.get(fake, 0)
                self.polls[fake] = seen + 1
                real = self.real_id.get(fake, fake)
            path = path[: change_poll.start(1)] + real
        status, headers, payload = self._forward(handler.command, path, handler.headers, body)
        if handler.command == "POST" and re.search(r"/rrset/?$", path) and status == 200:
            with self.lock:
                self.stats["changes_forwarded"] += 1
                fake = f"CFP{next(self.ids):08d}"
            match = re.search(rb"<Id>/change/([A-Za-z0-9]+)</Id>", payload)
            if match:
                with self.lock:
                    self.real_id[fake] = match.group(1).decode()
                payload = payload.replace(match.group(0), f"<Id>/change/{fake}</Id>".encode())
                payload = payload.replace(b"<Status>INSYNC</Status>", b"<Status>PENDING</Status>")
            if self.hang_after_change:
                time.sleep(self.hang_after_change)
        elif change_poll and status == 200 and seen < self.pending_polls:
            payload = payload.replace(b"<Status>INSYNC</Status>", b"<Status>PENDING</Status>")
        if change_poll:
            payload = re.sub(rb"<Id>[^<]*</Id>", f"<Id>/change/{fake}</Id>".encode(), payload)
        if fault == "drop_after":
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        self._reply(handler, status, payload, headers.get("Content-Type", "text/xml"))

    def _forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            forward_headers = {k: v for k, v in headers.items() if k.lower() != "host"}
            conn.request(method, path, body=body or None, headers=forward_headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    @staticmethod
    def _reply(handler, status, payload, content_type="text/xml"):
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
