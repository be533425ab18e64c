"""A local webhook receiver for the notification tests, and endpoint builders."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from failover.notify.models import NotificationEndpoint
from failover.secrets import encrypt

SECRET = "test-signing-secret-0123456789"


class HookServer:
    """Records every POST; answers `fail_status` to the first `fail_first` of them."""

    def __init__(self):
        self.requests: list[dict] = []
        self.fail_first = 0
        self.fail_status = 500
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server.lock:
                    server.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    failing = len(server.requests) <= server.fail_first
                self.send_response(server.fail_status if failing else 200)
                if failing and 300 <= server.fail_status < 400:
                    self.send_header("Location", "/elsewhere")
                self.end_headers()
                self.wfile.write(b"boom" if failing else b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def json(self, index: int = -1) -> dict:
        return json.loads(self.requests[index]["body"])


@pytest.fixture
def hooks():
    server = HookServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def new_endpoint(service, name, url, **fields) -> NotificationEndpoint:
    """An endpoint saved with its URL set the only way there is (encrypted)."""
    endpoint = NotificationEndpoint(service=service, name=name, **fields)
    endpoint.set_url(url)
    endpoint.save()
    return endpoint


@pytest.fixture
def endpoint(hooks):
    """Builds endpoints that post to the local receiver (path = endpoint name)."""

    def make(service, name="ops", fmt="generic", events=(), active=True):
        return new_endpoint(
            service,
            name,
            f"{hooks.url}/{name}",
            format=fmt,
            secret=encrypt(SECRET) if fmt == "generic" else "",
            events=list(events),
            active=active,
        )

    return make
