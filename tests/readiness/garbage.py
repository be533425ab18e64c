"""Raw TCP servers answering garbage, for the readiness and notification tests.

`RawServer(answer)` listens on 127.0.0.1 (or `host`), port 0, and for every connection calls
`answer(conn)` in a thread: send a banner, close at once, drip bytes, hang. With `tls` it
first completes a TLS handshake with the given certificate, so a client reaches the HTTP
layer and meets garbage there. It counts connections and keeps what clients sent.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path


class RawServer:
    def __init__(
        self,
        answer,
        *,
        host="127.0.0.1",
        tls: tuple[bytes, bytes] | None = None,
        tmp: Path | None = None,
    ):
        self.answer = answer
        self.connections = 0
        self.received: list[bytes] = []
        self.sock = socket.create_server((host, 0))
        self.host, self.port = host, self.sock.getsockname()[1]
        self.context = None
        if tls:
            chain, key = tls
            pem = Path(tmp) / f"raw-{id(self)}.pem"
            pem.write_bytes(key + chain)
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(str(pem))
            pem.unlink()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, path: str = "/", scheme: str | None = None) -> str:
        scheme = scheme or ("https" if self.context else "http")
        return f"{scheme}://{self.host}:{self.port}{path}"

    def _serve(self):
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            conn.settimeout(5)
            if self.context:
                conn = self.context.wrap_socket(conn, server_side=True)
            self.answer(self, conn)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def read_request(self, conn) -> bytes:
        """The client's request head (kept in `received`)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        self.received.append(data)
        return data

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


# --- answers ------------------------------------------------------------------------------


def banner(server, conn):
    """An SSH server where HTTP was expected."""
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\x00 garbage\r\n")
    time.sleep(0.2)


def close_at_once(server, conn):
    pass


def not_tls(server, conn):
    """Bytes that look like nothing a TLS client can accept."""
    conn.sendall(b"\x15\x03\x01\x00\x02\x02\x28 this is not a TLS server\r\n" * 4)
    time.sleep(0.2)


def hang(server, conn):
    """Accept and say nothing until the client gives up."""
    conn.settimeout(30)
    while conn.recv(4096):  # read what the client sends (closing unread would reset it)
        pass


def http(status: int, body: bytes, *, headers: bytes = b""):
    def answer(server, conn):
        server.read_request(conn)
        conn.sendall(
            b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n"
            % (status, len(body), headers)
            + body
        )

    return answer


def huge(size: int):
    """A 200 whose body goes on for `size` bytes (no length: until the connection closes)."""

    def answer(server, conn):
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        block = b"{" * 65536
        for _ in range(size // len(block)):
            conn.sendall(block)

    return answer


def cut_short(server, conn):
    """A 200 that announces 100 bytes and closes after 12."""
    server.read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n")
    conn.sendall(b'{"keys": [],')


def ok(server, conn):
    http(200, b'{"ok": true}')(server, conn)
