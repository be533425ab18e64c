from __future__ import annotations

import contextlib
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init, worker_ready
from django.db import DatabaseError, close_old_connections, connection
from kombu.transport import TRANSPORT_ALIASES

# The embedded broker writes each message whole before a consumer can see it (failover/fsbroker.py).
TRANSPORT_ALIASES["filesystem"] = "failover.fsbroker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "failover.settings")

app = Celery("failover")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def keep_connections(sender: object = None, **_: object) -> None:
    """A worker's database connections live as a web process's do: for CONN_MAX_AGE, checked
    before each task's first query and closed after an error. Celery's own Django fix-up would
    close them before and after every task (CELERY_DB_REUSE_MAX in settings turns that off),
    so each task paid a new connection on the path to every failover: 6 ms on loopback, a TLS
    handshake more to a database elsewhere."""
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


@worker_init.connect
def _after_django_fixup(**_: object) -> None:
    # Connected now, not at import: after Celery's Django fix-up, whose own handler closes a
    # pool child's connections as it starts (one opened before it would be lost).
    worker_process_init.connect(open_connection, weak=False, dispatch_uid="open-connection")


@worker_ready.connect
def _open_in_thread_pool(sender: object = None, **_: object) -> None:
    # The threads pool runs its first task on the thread that ran this (an idle one is reused).
    pool = getattr(getattr(sender, "pool", None), "executor", None)
    if pool is not None:
        pool.submit(open_connection)


def open_connection(**_: object) -> None:
    """Open the database connection of the thread that runs the tasks (a pool's child, a
    solo worker, the threads pool's first thread) when the worker starts, not in its first
    task: that one may be a failover."""
    # The database down: the first task connects, or says why it cannot.
    with contextlib.suppress(DatabaseError):
        connection.ensure_connection()
