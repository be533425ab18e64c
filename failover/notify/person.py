"""Telling one person, by email, that an operator acted in their name from the shell.

The notification endpoints are per service channels (Slack, signed JSON) and know no person,
so a person is reached at the address on their account, through Django's email framework
(EMAIL_BACKEND: console in DEBUG, SMTP otherwise). Delivery runs after the act committed and
never raises: the outcome is an audit event, `notice.sent` or a flagged `notice.failed` naming
the error, so an unnotified person shows up in the audit log rather than silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from audit.actions import NOTICE_FAILED, NOTICE_SENT
from audit.context import annotating
from audit.services import record_event
from failover.notify.payloads import request_url

logger = logging.getLogger(__name__)


@dataclass
class ActedAs:
    person: Any
    operator: dict
    what: str
    request_id: int | None
    at: datetime
    outcome: str
    event_seq: int


def acted_as_message(notice: ActedAs) -> tuple[str, str]:
    """Subject and body: who acted as them, when, what, on which request, why, and how it
    ended."""
    op = notice.operator
    who = op["os_user"] + (f" (via sudo from {op['sudo_user']})" if op.get("sudo_user") else "")
    on = f" on failover request #{notice.request_id}" if notice.request_id else ""
    when = timezone.localtime(notice.at).strftime("%Y-%m-%d %H:%M:%S %Z")
    subject = f"[failover] {who} acted as you: {notice.what}{on}"
    lines = [
        f"An operator used the command line to act in your name ({notice.person.username}).",
        "",
        f"Who:     OS user {who}",
        f"When:    {when}",
        f"What:    {notice.what}",
    ]
    if notice.request_id:
        base = settings.PUBLIC_BASE_URL
        lines.append(f"Request: #{notice.request_id} {request_url(base, notice.request_id, '')}")
    lines += [
        f"Reason:  {op.get('reason') or '(none given: demo mode)'}",
        f"Outcome: {notice.outcome}",
        "",
        f"It is flagged in the audit log (event {notice.event_seq}, operator.acted_as). If you "
        "did not expect it, tell your security team.",
    ]
    return subject, "\n".join(lines)


def notify_acted_as(notice: ActedAs) -> str | None:
    """Send the notice: None once the mail backend accepted it, else what went wrong. Never
    raises."""
    try:
        with annotating(operator=notice.operator):
            return _send(notice)
    except Exception as exc:  # recording the outcome failed too: the log is all that is left
        logger.exception("could not notify %s of an operator act", notice.person.username)
        return f"{type(exc).__name__}: {exc}"


def _send(notice: ActedAs) -> str | None:
    person = notice.person
    data = {"person": person.username, "channel": "email", "acted_as_event": notice.event_seq}
    error = None
    if not person.email:
        error = "the account has no email address"
    else:
        subject, body = acted_as_message(notice)
        try:
            EmailMessage(subject, body, to=[person.email]).send()
        except Exception as exc:  # SMTP down, refused, misconfigured: the act stands
            error = f"{type(exc).__name__}: {exc}"[:500]
    if error is None:
        record_event(action=NOTICE_SENT, actor=None, data=data)
        return None
    logger.warning("operator act: %s was not notified: %s", person.username, error)
    record_event(action=NOTICE_FAILED, actor=None, data={**data, "flagged": True, "error": error})
    return error
