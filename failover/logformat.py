"""How log lines are written: JSON lines for a log pipeline (one object per line, the context of
failover/logcontext.py as fields) or plain text for people at a terminal (`make run`).

LOG_FORMAT picks one for the web processes, the Celery workers and beat (settings.LOGGING) and
for gunicorn's own and access lines (gunicorn.conf.py); by default JSON unless DEBUG is on.
"""

from __future__ import annotations

import logging
import logging.config
import os
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

FORMATS = ("json", "plain")


def log_format(debug: bool) -> str:
    raw = os.environ.get("LOG_FORMAT", "").strip().lower()
    if not raw:
        return "plain" if debug else "json"
    if raw not in FORMATS:
        raise ImproperlyConfigured(
            f"LOG_FORMAT must be one of {', '.join(FORMATS)}, got {os.environ['LOG_FORMAT']!r}"
        )
    return raw


class JsonFormatter(_JsonFormatter):
    """{"time", "level", "logger", "message", then request_id, actor, failover_request_id,
    client (and task, task_id in a worker), then any `extra=` fields and exc_info}."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
            **kwargs,
        )


class AccessJsonFormatter(JsonFormatter):
    """gunicorn's access lines: the request's parts as fields. gunicorn hands the line's atoms
    as the record's arguments; the request id is the X-Request-ID our middleware answered."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        atoms = record.args
        if not isinstance(atoms, Mapping):
            return
        log_data.update(
            request_id=_atom(atoms, "{x-request-id}o"),
            method=_atom(atoms, "m"),
            path=_atom(atoms, "U"),
            query=_atom(atoms, "q"),
            status=_number(atoms, "s"),
            bytes=_number(atoms, "B") or 0,
            duration_ms=round((_number(atoms, "D") or 0) / 1000, 1),
            peer=_atom(atoms, "h"),  # the connection's address: a proxy's, behind one
            forwarded_for=_atom(atoms, "{x-forwarded-for}i"),
            user_agent=_atom(atoms, "a"),
        )


def _atom(atoms: Mapping[str, Any], name: str) -> str:
    key = name.lower() if name.startswith("{") else name
    # gunicorn escapes double quotes for its text format; JSON escapes them itself.
    value = str(atoms.get(key, "-")).replace('\\"', '"')
    return "" if value in ("-", "None") else value


def _number(atoms: Mapping[str, Any], name: str) -> int | None:
    value = _atom(atoms, name)
    return int(value) if value.isdigit() else None


class PlainFormatter(logging.Formatter):
    """The classic line, with the request id and actor in brackets when there is a request."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(where)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", "")
        actor = getattr(record, "actor", "")
        record.where = f" [{request_id}{' ' + actor if actor else ''}]" if request_id else ""
        return super().format(record)


def logging_config(fmt: str, level: str) -> dict[str, Any]:
    """settings.LOGGING. Celery keeps its hands off the root logger
    (CELERY_WORKER_HIJACK_ROOT_LOGGER) and finds celery.task already handled, so worker and
    beat lines, task lines included, come out the same way."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "failover.logcontext.ContextFilter"}},
        "formatters": {
            "json": {"()": "failover.logformat.JsonFormatter"},
            "plain": {"()": "failover.logformat.PlainFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["context"]}
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"celery.task": {"handlers": ["console"], "propagate": False}},
    }


def configure(config: dict[str, Any]) -> None:
    """settings.LOGGING_CONFIG: the config, and Python's warnings (Celery's superuser warning,
    deprecations) as log records too, so that every line a process writes is in the format."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


def gunicorn_logconfig(accesslog: str | None) -> dict[str, Any]:
    """gunicorn's logconfig_dict for JSON lines: its own lines on stderr, access lines where
    `accesslog` says ("-": stdout, a path, or None for none)."""
    handlers: dict[str, Any] = {"console": {"class": "logging.StreamHandler", "formatter": "json"}}
    if accesslog == "-":
        handlers["access"] = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
    elif accesslog:
        handlers["access"] = {"class": "logging.FileHandler", "filename": accesslog}
    if accesslog:
        handlers["access"]["formatter"] = "access"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": "failover.logformat.JsonFormatter"},
            "access": {"()": "failover.logformat.AccessJsonFormatter"},
        },
        "handlers": handlers,
        "root": {"handlers": ["console"], "level": "INFO"},
        "loggers": {
            # No level: gunicorn's own --log-level stays in force.
            "gunicorn.error": {"handlers": ["console"], "propagate": False},
            "gunicorn.access": {
                "handlers": ["access"] if accesslog else [],
                # With no access log gunicorn still calls it: its INFO lines are dropped.
                "level": "INFO" if accesslog else "WARNING",
                "propagate": False,
            },
        },
    }
