"""An open-loop HTTP load generator: requests go out on a fixed schedule (N per second),
whether or not earlier ones were answered, so a slow server shows up as latency instead of
quietly lowering the rate (wrk's closed loop would do the latter). One connection per request,
as a paging tool's webhook or a script does."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Sent:
    status: int
    latency: float  # seconds from opening the connection to the whole response read
    lag: float  # seconds the request left after its scheduled time (the generator's own delay)


def request_bytes(method: str, url: str, body: bytes, headers: dict[str, str]) -> bytes:
    parts = urlsplit(url)
    lines = [f"{method} {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1"]
    lines += [f"Host: {parts.netloc}", "Connection: close", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _send(host: str, port: int, raw: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw)
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        await reader.read()  # Connection: close, so the body ends with the connection
    finally:
        writer.close()
    return status, time.perf_counter() - started


async def _burst(url: str, requests: list[bytes], rate: float) -> list[Sent]:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1

    async def one(n: int, raw: bytes) -> Sent:
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        lag = loop.time() - due
        try:
            status, latency = await _send(parts.hostname, parts.port, raw)
        except OSError:
            status, latency = 0, float("nan")
        return Sent(status, latency, lag)

    return await asyncio.gather(*(one(n, raw) for n, raw in enumerate(requests)))


def burst(url: str, requests: list[bytes], *, rate: float) -> list[Sent]:
    """Send prepared raw requests to the host of `url`, `rate` per second."""
    return asyncio.run(_burst(url, requests, rate))
