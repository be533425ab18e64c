"""Step-up: confirm a consequential action with the password again, with a lockout.

A phone left unlocked in a war room should not be able to approve a failover; five wrong
passwords in ten minutes lock the step-up for that person. The lock ends by itself when the
oldest of those failures is ten minutes old, or at once when the person signs in again with
their password (sign out, sign in): whoever knows the password could confirm anyway, and the
sign-in is throttled on its own. If they forgot it, an administrator sets a new one.

The failures are counted in the shared cache (Redis in production); while it is down, in this
process (failover/degrade.py), so a Redis outage never stops a confirmation.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from failover.degrade import with_cache

MAX_FAILURES = 5
WINDOW_SECONDS = 600

RECOVERY = (
    "To unlock it now, sign out and sign in again with your password (if you have forgotten "
    "it, an administrator can set a new one); otherwise it unlocks by itself"
)


class StepUpError(Exception):
    def __init__(self, message: str, *, locked: bool = False, retry_after: int = 0):
        super().__init__(message)
        self.message = message
        self.locked = locked
        self.retry_after = retry_after  # seconds until the lock ends (0: not locked)


def _key(user) -> str:
    return f"web:step-up-failures:{user.pk}"


def _recent_failures(user, now: float) -> list[float]:
    stored = with_cache(lambda store: store.get(_key(user), []))
    return [t for t in stored if now - t < WINDOW_SECONDS]


def clear_failures(user) -> None:
    """A sign-in with the right password ends the step-up lock (see the module's docstring)."""
    with_cache(lambda store: store.delete(_key(user)))


def _locked(failures: list[float], now: float, first_words: str) -> StepUpError:
    retry_after = max(1, math.ceil(WINDOW_SECONDS - (now - failures[0])))
    until = datetime.fromtimestamp(now + retry_after, UTC).strftime("%H:%M UTC")
    minutes = math.ceil(retry_after / 60)
    return StepUpError(
        f"{first_words} for {'about ' if minutes < 10 else ''}{minutes} min (until {until}). "
        f"{RECOVERY}",
        locked=True,
        retry_after=retry_after,
    )


def confirm_password(user, password: str) -> None:
    """Raise StepUpError unless `password` is the user's and they are not locked out."""
    now = time.time()
    failures = _recent_failures(user, now)
    if len(failures) >= MAX_FAILURES:
        raise _locked(failures, now, "too many wrong passwords: confirmation is locked")
    if not password:  # a forgotten field is not a guess: it does not count
        raise StepUpError("enter your password to confirm")
    if user.check_password(password):
        clear_failures(user)
        return
    failures.append(now)
    with_cache(lambda store: store.set(_key(user), failures, WINDOW_SECONDS))
    left = MAX_FAILURES - len(failures)
    if left:
        raise StepUpError(
            f"that is not your password ({left} attempt{'s' if left != 1 else ''} left)"
        )
    raise _locked(failures, now, "that is not your password; confirmation is now locked")
