"""Step-up: confirm a consequential action with the password again, with a lockout.

A phone left unlocked in a war room should not be able to approve a failover; five wrong
passwords in ten minutes lock the step-up for that person (the cache is shared by the web
processes in production; per process with the local-memory default).
"""

from __future__ import annotations

import time

from django.core.cache import cache

MAX_FAILURES = 5
WINDOW_SECONDS = 600


class StepUpError(Exception):
    def __init__(self, message: str, *, locked: bool = False):
        super().__init__(message)
        self.message = message
        self.locked = locked


def _key(user) -> str:
    return f"web:step-up-failures:{user.pk}"


def _recent_failures(user, now: float) -> list[float]:
    return [t for t in cache.get(_key(user), []) if now - t < WINDOW_SECONDS]


def confirm_password(user, password: str) -> None:
    """Raise StepUpError unless `password` is the user's and they are not locked out."""
    now = time.time()
    failures = _recent_failures(user, now)
    if len(failures) >= MAX_FAILURES:
        wait = int(WINDOW_SECONDS - (now - failures[0])) // 60 + 1
        raise StepUpError(
            f"too many wrong passwords: confirmation is locked for about {wait} min",
            locked=True,
        )
    if not password:  # a forgotten field is not a guess: it does not count
        raise StepUpError("enter your password to confirm")
    if user.check_password(password):
        cache.delete(_key(user))
        return
    failures.append(now)
    cache.set(_key(user), failures, WINDOW_SECONDS)
    left = MAX_FAILURES - len(failures)
    message = "that is not your password"
    if left:
        message += f" ({left} attempt{'s' if left != 1 else ''} left)"
    else:
        message += "; confirmation is now locked for 10 min"
    raise StepUpError(message, locked=not left)
