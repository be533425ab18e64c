"""A Celery broker of the caller's own: a redis-server on a free port, or kombu's filesystem
transport where redis-server is not installed; pointing this process's Celery app at it; and
the default cache on a redis-server of a test's own."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import kombu.pools
import pytest

from tests.harness.ports import free_port


class Broker:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.redis = shutil.which("redis-server")
        self.process: subprocess.Popen | None = None
        if self.redis:
            self.port = free_port()
            self.url = f"redis://127.0.0.1:{self.port}/0"
            self.env = {"TEST_CELERY_BROKER_URL": self.url}
        else:
            queue = workdir / "queue"
            queue.mkdir(parents=True, exist_ok=True)
            (workdir / "queue-control").mkdir(exist_ok=True)
            self.url = "filesystem://localhost/"
            self.env = {"TEST_CELERY_BROKER_URL": self.url, "TEST_CELERY_FS_DIR": str(queue)}

    def start(self) -> Broker:
        if self.redis:
            self.process = subprocess.Popen(
                [
                    self.redis,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_until(lambda: redis_answers(self.port), "redis-server")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def use_in_this_process(self):
        """Point this process's Celery app at the broker; returns a function that undoes it."""
        from failover.celery import app

        saved = (app.conf.broker_url, app.conf.broker_transport_options)
        options = {"polling_interval": 0.1}
        if not self.redis:
            queue = self.env["TEST_CELERY_FS_DIR"]
            options.update(
                data_folder_in=queue,
                data_folder_out=queue,
                control_folder=queue + "-control",
                store_processed=False,
            )
        repoint(app, self.url, options)
        return lambda: repoint(app, *saved)


def repoint(app, url, options) -> None:
    """Send this Celery app's tasks to `url` from now on."""
    app.conf.broker_url = url
    app.conf.broker_transport_options = options
    # Producers are pooled per connection in kombu's global registry: drop them all, or a
    # later send reuses a pool closed along with the previous broker.
    kombu.pools.reset()
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_until(check, what: str, timeout: float = 20) -> None:
    """Wait for a process to come up: `check()` true, else RuntimeError after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


@contextmanager
def redis_cache(settings, workdir: Path) -> Iterator[str]:
    """The default cache on a redis-server of its own (database 1) for the block -> its URL;
    the test skipped where redis-server is not installed. The setting is put back before the
    server stops, so what runs after the block (a teardown emptying the cache) meets no dead
    server."""
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server (Debian package redis-server)")
    broker = Broker(workdir).start()
    url = broker.url.rsplit("/", 1)[0] + "/1"
    saved = settings.CACHES
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    try:
        yield url
    finally:
        settings.CACHES = saved
        broker.stop()
