"""An accountable shell: an operator acting in a person's name from the command line.

Whoever can run manage.py can reach the database, so `--as USER` is not a way to prove who
acts; it is an operator standing in for a person. That is refused unless the embedded demo
(DEBUG) or an explicit operator mode (CLI_OPERATOR_MODE) is on. When allowed, every audit
event of the act carries `operator` (OS user, sudo user, reason, the person), one flagged
`operator.acted_as` event sums the act up, and the person is told (failover/notify/person.py).

Operator mode grants nothing: the services still check the person's own authority.
"""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.db import transaction

from audit.actions import OPERATOR_ACTED_AS
from audit.context import annotating
from audit.services import record_event
from failover.notify.person import ActedAs, notify_acted_as

logger = logging.getLogger(__name__)

MIN_REASON = 10
REASON_OPTION = "--operator-reason"


def os_user() -> str:
    """The account the process runs as, from its uid: getpass.getuser() reads $USER and
    $LOGNAME first, which the operator could set to anyone."""
    try:
        import pwd  # noqa: PLC0415 (POSIX only: absent elsewhere, hence ImportError below)

        return pwd.getpwuid(os.geteuid()).pw_name
    except ImportError:
        return getpass.getuser()
    except KeyError:  # a uid with no passwd entry (some containers)
        return f"uid {os.geteuid()}"


def check_allowed(reason: str) -> str:
    """The reason to record, or CommandError if acting for someone is not allowed here."""
    reason = " ".join((reason or "").split())
    if settings.DEBUG:
        return reason  # the embedded demo: still annotated, a reason is welcome but optional
    if not settings.CLI_OPERATOR_MODE:
        raise CommandError(
            "acting as a person from the shell (--as) is off: people act as themselves in "
            "the web views or the API. An operator who must act for someone sets "
            f"CLI_OPERATOR_MODE=true and gives {REASON_OPTION}; the act is then flagged in "
            "the audit log under their own name and the person is notified."
        )
    if len(reason) < MIN_REASON:
        raise CommandError(
            f"operator mode: say why you act for this person with {REASON_OPTION} "
            f"(at least {MIN_REASON} characters); it is recorded and sent to them"
        )
    return reason


@dataclass
class Act:
    """One act done for `person`; the command fills in the request once it knows it."""

    person: Any
    operator: dict
    command: str
    what: str
    request: Any = None
    outcome: str = "done"
    # Once the notice was tried: "" when the person was notified, else what went wrong.
    notice_error: str | None = None

    @property
    def request_id(self) -> int | None:
        return getattr(self.request, "pk", self.request)


@contextmanager
def acting_for(person: Any, reason: str, *, command: str, what: str) -> Iterator[Act]:
    """Run an act for `person` under the operator's name. Raises CommandError before anything
    happens when it is not allowed; afterwards records `operator.acted_as` (also when the act
    was refused, which the person should hear of too) and notifies the person."""
    reason = check_allowed(reason)
    operator = {
        "os_user": os_user(),
        "sudo_user": os.environ.get("SUDO_USER", ""),
        "reason": reason,
        "acting_as": person.username,
    }
    act = Act(person=person, operator=operator, command=command, what=what)
    with annotating(operator=operator):
        try:
            yield act
        except BaseException as exc:
            act.outcome = f"refused: {exc}" if isinstance(exc, Exception) else "interrupted"
            try:
                _finish(act)
            except Exception:  # never hide why the act failed behind a failed record
                logger.exception("could not record operator.acted_as for %s", act.what)
            raise
        _finish(act)


def _finish(act: Act) -> None:
    event = record_event(
        action=OPERATOR_ACTED_AS,
        object_type="failover.failoverrequest" if act.request_id else "",
        object_id=str(act.request_id or ""),
        actor=act.person,
        data={
            "flagged": True,
            "operator": act.operator,
            "person": act.person.username,
            "command": act.command,
            "what": act.what,
            "request_id": act.request_id,
            "outcome": act.outcome,
        },
    )
    notice = ActedAs(
        person=act.person,
        operator=act.operator,
        what=act.what,
        request_id=act.request_id,
        at=event.created_at,
        outcome=act.outcome,
        event_seq=event.seq,
    )

    # After the act commits (at once outside a transaction); robust: the act stands whatever
    # happens to the notice, and notify_acted_as records its own failure.
    def send() -> None:
        act.notice_error = notify_acted_as(notice) or ""

    transaction.on_commit(send, robust=True)
