"""What every log line says about where it came from: the request id, who acted, the failover
request at hand, the client's address, and in a worker the task.

The web middleware (failover/requestid.py) fills it per request; the Celery signal handlers
below carry it in the message headers of every task enqueued meanwhile and restore it in the
worker around the task, so one id follows an act from the browser into the tasks it caused.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun
from django.utils.functional import empty

# Ids a proxy or a client may hand us; anything else (long, spaces, quotes, newlines) could
# forge or break log lines, so it is replaced by one of ours, never echoed.
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass
class LogContext:
    request_id: str = ""
    actor: str = ""
    failover_request_id: str = ""
    client: str = ""
    task: str = ""
    task_id: str = ""
    # The HttpRequest, read for its user only once something else has loaded it (see _actor).
    request: Any = field(default=None, repr=False)


_current: ContextVar[LogContext | None] = ContextVar("log_context", default=None)


def current() -> LogContext:
    return _current.get() or LogContext()


def sane_request_id(value: str | None) -> str:
    """The caller's id when it is one we can log safely, else a new one."""
    if value and _SANE_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


@contextmanager
def bound(context: LogContext) -> Iterator[LogContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def _actor(context: LogContext) -> str:
    """The signed-in user's name, without loading the user for the sake of a log line: the
    session's lazy user counts only once evaluated (the audit middleware does, early), and a
    user DRF authenticated by token is set on the request as a plain object."""
    user = vars(context.request).get("user") if context.request is not None else None
    if user is None or getattr(user, "_wrapped", None) is empty:
        return context.actor
    if not getattr(user, "is_authenticated", False):
        return ""
    return str(user.get_username())


class ContextFilter(logging.Filter):
    """Adds the context's fields to every record a handler emits (so records of any logger,
    ours or a library's, carry them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current()
        record.request_id = context.request_id
        record.actor = _actor(context)
        record.failover_request_id = context.failover_request_id
        record.client = context.client
        if context.task:
            record.task = context.task
            record.task_id = context.task_id
        return True


# --- Celery: web request -> message headers -> worker ------------------------------------------


@before_task_publish.connect(weak=False, dispatch_uid="failover.logcontext.publish")
def _add_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Sent on commit too: dispatch.enqueue's on_commit callbacks run inside the request."""
    context = current()
    if headers is not None and context.request_id:
        headers["request_id"] = context.request_id
        headers["actor"] = _actor(context)
        headers["failover_request_id"] = context.failover_request_id


_tasks: dict[str, Any] = {}  # task id -> the reset token of its context


@task_prerun.connect(weak=False, dispatch_uid="failover.logcontext.prerun")
def _enter_task(task_id: str = "", task: Any = None, **_: Any) -> None:
    """Custom message headers show up as attributes of task.request. A task sent outside any
    request (beat, a sweeper) gets an id of its own, so its lines can still be grouped."""
    request = getattr(task, "request", None)

    def carried(name: str) -> str:
        return str(getattr(request, name, None) or "")

    context = LogContext(
        request_id=sane_request_id(carried("request_id") or None),
        actor=carried("actor")[:150],
        failover_request_id=carried("failover_request_id")[:20],
        task=str(getattr(task, "name", "")),
        task_id=task_id,
    )
    _tasks[task_id] = _current.set(context)


@task_postrun.connect(weak=False, dispatch_uid="failover.logcontext.postrun")
def _leave_task(task_id: str = "", **_: Any) -> None:
    token = _tasks.pop(task_id, None)
    if token is not None:
        try:
            _current.reset(token)
        except ValueError:  # set in another context (should not happen): just clear it
            _current.set(None)
