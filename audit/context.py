"""Who is acting, for events written by signal handlers that cannot be passed an actor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_actor: ContextVar[Any] = ContextVar("audit_actor", default=None)


def current_actor() -> Any:
    return _actor.get()


@contextmanager
def acting_as(user: Any) -> Iterator[None]:
    token = _actor.set(user)
    try:
        yield
    finally:
        _actor.reset(token)


_annotations: ContextVar[dict[str, Any] | None] = ContextVar("audit_annotations", default=None)


def current_annotations() -> dict[str, Any]:
    return _annotations.get() or {}


@contextmanager
def annotating(**fields: Any) -> Iterator[None]:
    """Every event recorded inside carries these fields too: how the actor proved it was them
    (`step_up`), or the operator who acted in their name from the shell (`operator`)."""
    token = _annotations.set({**current_annotations(), **fields})
    try:
        yield
    finally:
        _annotations.reset(token)
