"""gunicorn's settings for the web process (the Dockerfile runs `gunicorn -c gunicorn.conf.py
failover.wsgi`; gunicorn also reads this file by itself when started in this directory).

Threaded workers (gthread), not sync ones: a sync worker sends no heartbeat while it handles a
request, so the arbiter kills it `timeout` seconds into any long response, and a long audit
export (millions of events, a minute or more) arrived cut short with a 200 status. A gthread
worker's main loop keeps heartbeating while its threads stream, so `timeout` only catches a
worker that is truly stuck. Verifying the chain no longer happens in a request (a background
job, audit/jobs.py), so no request needs more than `timeout` of work between heartbeats.

Every value can be set from the environment:

    WEB_CONCURRENCY            worker processes (default 3)
    GUNICORN_THREADS           threads per worker (default 4): requests served at once per
                               worker; each thread holds its own database connection
    GUNICORN_TIMEOUT           seconds without a heartbeat before a worker is killed (30)
    GUNICORN_GRACEFUL_TIMEOUT  seconds a stopping worker gets to finish its requests, e.g. an
                               export under way (60; give the container at least as long)
    GUNICORN_KEEPALIVE         seconds an idle keep-alive connection is held (5)
    GUNICORN_ACCESS_LOG        where access lines go ("-": stdout; "" for none)
    PORT                       the port to listen on, on all interfaces (8000)
    PROMETHEUS_MULTIPROC_DIR   a directory of this host only: /metrics then sums the HTTP
                               metrics of every worker process (emptied at start)
"""

import os

from prometheus_client import multiprocess

from failover.env import env_bool
from failover.heap import freeze_loaded
from failover.logformat import gunicorn_logconfig, log_format


def _number(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{name} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


bind = [f"0.0.0.0:{_number('PORT', 8000)}"]
# gthread, but a silent new connection holds no thread (failover/gthread.py says why).
worker_class = "failover.gthread.PollFirstWorker"
workers = _number("WEB_CONCURRENCY", 3)
threads = _number("GUNICORN_THREADS", 4)
timeout = _number("GUNICORN_TIMEOUT", 30)
graceful_timeout = _number("GUNICORN_GRACEFUL_TIMEOUT", 60)
keepalive = _number("GUNICORN_KEEPALIVE", 5)
# No control socket (gunicorn 25.1+ opens one in $HOME by default): nothing here uses
# `gunicornc`, and every gunicorn of one user on a host would share the one path.
control_socket_disable = True
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# JSON lines like the app's (LOG_FORMAT, README "Configuration"): gunicorn's own and access lines.
if log_format(env_bool("DEBUG")) == "json":
    logconfig_dict = gunicorn_logconfig(accesslog)


def on_starting(server) -> None:
    # Counters of a previous run's processes would be added to this run's.
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.remove(os.path.join(folder, name))


def post_worker_init(worker) -> None:
    # The app is loaded: what it keeps for good leaves the garbage collector's walks
    # (failover/heap.py: a full collection paused a worker for tens of milliseconds).
    freeze_loaded()


def child_exit(server, worker) -> None:
    # A dead worker's gauges (live ones) must stop counting; its counters stay summed.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
