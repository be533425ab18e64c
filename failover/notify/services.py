"""Outbound notifications: outbox rows written with the audit event, and their delivery.

A row is written in the transaction of the state change it reports, so a notification is
lost neither to a broker outage nor to a worker dying; the sweeper re-sends what no task
carries any more. Delivery is at least once (a POST whose answer is lost is repeated, with
the same `X-Failover-Delivery` id), but two workers never POST one notification at once: a
worker claims a row only when it is due, by a compare-and-set on `attempts` that also moves
the row's `next_attempt_at` past the end of its own attempt (a lease). A failed attempt sets
it to the end of the backoff; the sweeper finds queued rows whose `next_attempt_at` is well
past, in one query on the (status, next_attempt_at) index. `payload["body"]` is exactly the
JSON posted.

The endpoint URL is a credential for Slack: it is decrypted only to post, and what goes into
errors and logs is scrubbed of it (the endpoint's `url_display` names the host instead).
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import datetime, timedelta
from http.client import HTTPException
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from approvals.selectors import decision_facts, verdict_for
from audit.actions import REQUEST_STATE_CHANGED, ROLLBACK_DEADLINE_PASSED
from failover import outbound
from failover.chain import authority_chain
from failover.dispatch import enqueue, send_now
from failover.models import FailoverRequest
from failover.notify import payloads
from failover.notify.models import Notification, NotificationEndpoint
from failover.precompiled import compiled
from failover.secrets import decrypt
from failover.states import OPEN_STATES

logger = logging.getLogger(__name__)

SEND_TASK = "failover.notify.tasks.send_notification"
MAX_ATTEMPTS = 8
TIMEOUT = 10  # seconds, per connect and per read: a slow endpoint must not hold a worker
LEASE = timedelta(seconds=60)  # a claimed row not settled by then lost its worker
STALE = timedelta(seconds=30)  # the sweeper re-sends a row this long past due
EARLY = timedelta(seconds=1)  # a countdown may fire this early by another worker's clock
BACKOFF_BASE = 5.0
BACKOFF_CAP = 300.0
SWEEP_LIMIT = 500
Status = Notification.Status


def public_base_url() -> str:
    return settings.PUBLIC_BASE_URL


# Break-glass is announced to those whose approval it skipped: a channel that asks approvers
# for their approval (or tells them of vetoes) gets it even if it did not list it.
ALSO_SENT_WITH = {"break_glass": ("approval_missing", "vetoed")}


def subscribed(endpoint: NotificationEndpoint, event: str) -> bool:
    events = endpoint.events
    if not events:
        return True
    if not isinstance(events, list):
        return False
    return event in events or any(e in events for e in ALSO_SENT_WITH.get(event, ()))


# --- the outbox ------------------------------------------------------------------------------


def listening(request_id: int) -> list[NotificationEndpoint]:
    """The active endpoints of the request's service. Asked on every veto and state change,
    mostly to find none: its SQL written once."""
    return compiled("notify-endpoints", _endpoints_of, "request").objects(request=request_id)


def queue_notifications(
    audit_event, events: tuple[str, ...], endpoints: list[NotificationEndpoint] | None = None
) -> list[int]:
    """Write one row per subscribed endpoint and event; send each after commit. `endpoints`:
    `listening()`'s answer, when the caller has it."""
    request_id = int(audit_event.object_id)
    if endpoints is None:
        endpoints = listening(request_id)
    wanted = [(e, ep) for e in events for ep in endpoints if subscribed(ep, e)]
    if not wanted:
        return []
    request = FailoverRequest.objects.select_related(
        "service", "from_target", "to_target", "requester"
    ).get(pk=request_id)
    facts = request_facts(request)
    now = timezone.now()
    rows, bodies = [], {}
    for event, endpoint in wanted:
        if event == "approval_missing" and not facts["missing"]:
            continue  # e.g. a breached threshold stands in for the approvals
        if event not in bodies:
            bodies[event] = payloads.generic_body(
                event=event,
                occurred_at=audit_event.created_at.isoformat(),
                actor=audit_event.actor,
                service=request.service.slug,
                request=facts,
                details=details_for(event, audit_event.action, audit_event.data),
                url=payloads.request_url(public_base_url(), request.pk, event),
            )
        body = bodies[event]
        if endpoint.format == NotificationEndpoint.Format.SLACK:
            body = payloads.slack_body(body)
        rows.append(
            Notification(
                endpoint=endpoint,
                event=event,
                request=request,
                payload={"body": body},
                next_attempt_at=now,
            )
        )
    created = Notification.objects.bulk_create(rows)
    for row in created:
        enqueue(SEND_TASK, row.pk)
    return [row.pk for row in created]


def _endpoints_of(request: int) -> QuerySet[NotificationEndpoint]:
    return NotificationEndpoint.objects.filter(active=True, service__requests=request).only(
        "pk", "format", "events"
    )


def request_facts(request: FailoverRequest) -> dict:
    """The request as it stands in this transaction. What is missing and what blocks only
    mean something while it is open; afterwards they are left empty."""
    missing, blocked_by = [], []
    if request.state in OPEN_STATES:
        verdict = verdict_for(request)
        blocked_by = [block.reason for block in verdict.blocked_by]
        if verdict.missing:
            chain = authority_chain(request.service)
            # The requester cannot approve, and one person counts for one role only.
            counted = {d.actor for d in decision_facts(request) if d.id in verdict.counted}
            excluded = counted | {request.requester.username}
            missing = [
                {
                    "role": m.role,
                    "needed": m.needed,
                    "have": m.have,
                    "holders": [h for h in chain.entry(m.authority).holders if h not in excluded],
                }
                for m in verdict.missing
            ]
    return {
        "id": request.pk,
        "state": request.state,
        "from_target": request.from_target.name,
        "to_target": request.to_target.name,
        "segment": request.segment,
        "reason": request.reason,
        "incident_ref": request.incident_ref,
        "drill": request.drill,
        "plan_hash": request.plan_hash,
        "missing": missing,
        "blocked_by": blocked_by,
    }


def details_for(event: str, action: str, data: dict) -> dict:
    """The few audit facts a reader needs, picked by name (audit data is never copied whole)."""
    if event == "vetoed":
        return {"comment": data.get("comment", ""), "decision_id": data.get("decision_id")}
    if action == REQUEST_STATE_CHANGED:
        return {key: data.get(key, "") for key in ("from", "to", "reason")}
    if event == "break_glass":
        skipped = data.get("skipped_approvers") or {}
        return {
            "break_glass_id": data.get("break_glass_id"),
            "justification": data.get("justification", ""),
            "veto_justification": data.get("veto_justification", ""),
            "skipped": [{"role": role, "holders": list(who)} for role, who in skipped.items()],
            "overridden": list(data.get("overridden") or []),
            "expires_at": data.get("expires_at"),
            "channel": data.get("channel", ""),
        }
    if event == "rollback_due":
        deadline = action == ROLLBACK_DEADLINE_PASSED
        return {
            "trigger": "deadline_passed" if deadline else "criteria_met",
            "rollback_holders": list(data.get("page" if deadline else "notify") or []),
            "decide_within_minutes": data.get("decide_within_minutes"),
        }
    return {"channel": data.get("channel", "")}


# --- delivery --------------------------------------------------------------------------------


def backoff(attempts: int) -> float:
    """Seconds before the next attempt: doubling, capped, jittered so that endpoints coming
    back from an outage are not hit by every queued notification in the same second."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempts - 1))
    return random.uniform(ceiling / 2, ceiling)


def _settle(row: Notification, seen_attempts: int, **fields) -> bool:
    """Write the outcome of our own attempt, unless someone took the row over meanwhile."""
    mine = Notification.objects.filter(pk=row.pk, status=Status.QUEUED, attempts=seen_attempts)
    return bool(mine.update(**fields))


def claim(row: Notification, now: datetime) -> bool:
    """Take the attempt after `row.attempts` if nobody has: of two workers that read the
    same row, one wins. The lease keeps later readers off until this attempt settles."""
    return _settle(row, row.attempts, attempts=row.attempts + 1, next_attempt_at=now + LEASE)


def send_notification(notification_id: int, *, now: datetime | None = None) -> str:
    """Make one attempt at a due notification; schedule the next one if it fails."""
    now = now or timezone.now()
    row = Notification.objects.select_related("endpoint").filter(pk=notification_id).first()
    if row is None:
        return "missing"
    if row.status != Status.QUEUED:
        return row.status  # a repeated delivery of a finished notification
    due = row.next_attempt_at  # the outbox always sets it; empty would read as due
    if due is not None and due > now + EARLY:
        return "not_due"  # claimed by a running attempt, or waiting out its backoff
    endpoint = row.endpoint
    if not endpoint.active or row.attempts >= MAX_ATTEMPTS:
        error = (
            "the endpoint was deactivated"
            if not endpoint.active
            else row.last_error or f"gave up after {row.attempts} attempts"
        )
        _settle(row, row.attempts, status=Status.FAILED, last_error=error, next_attempt_at=None)
        return "failed"
    if not claim(row, now):
        return "claimed_elsewhere"
    attempt = row.attempts + 1
    started = time.monotonic()
    error = deliver(row, endpoint, now)
    done_at = now + timedelta(seconds=time.monotonic() - started)
    if error is None:
        _settle(
            row, attempt, status=Status.SENT, sent_at=done_at, last_error="", next_attempt_at=None
        )
        logger.info(
            "notification %s (%s) sent to endpoint %s (%s)",
            row.pk,
            row.event,
            endpoint.pk,
            endpoint.url_display,
        )
        return "sent"
    logger.warning(
        "notification %s (%s) to endpoint %s (%s), attempt %s: %s",
        row.pk,
        row.event,
        endpoint.pk,
        endpoint.url_display,
        attempt,
        error,
    )
    if attempt >= MAX_ATTEMPTS or isinstance(error, Refused):  # a retry would be refused too
        _settle(row, attempt, status=Status.FAILED, last_error=error, next_attempt_at=None)
        return "failed"
    delay = backoff(attempt)
    retry_at = done_at + timedelta(seconds=delay)
    if _settle(row, attempt, last_error=error, next_attempt_at=retry_at):
        send_now(SEND_TASK, row.pk, countdown=delay)  # if this fails, the sweeper re-sends
    return "retrying"


def deliver(row: Notification, endpoint: NotificationEndpoint, now: datetime) -> str | None:
    """POST the stored body; None when the endpoint answered 2xx, else what went wrong."""
    body = json.dumps(row.payload["body"], separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "failover-notify/1",
        "X-Failover-Event": row.event,
        "X-Failover-Delivery": str(row.pk),
    }
    if endpoint.format == NotificationEndpoint.Format.GENERIC:
        if not endpoint.secret:
            return "the endpoint has no signing secret"
        try:
            key = decrypt(endpoint.secret)
        except ValueError as exc:
            return str(exc)  # says which key failed, never the secret
        timestamp = str(int(now.timestamp()))
        headers["X-Failover-Timestamp"] = timestamp
        headers["X-Failover-Signature"] = payloads.sign(key, timestamp, body)
    try:
        url = endpoint.get_url()
    except ValueError:
        return "the endpoint URL cannot be decrypted with the configured key"
    return post(url, body, headers)


class Refused(str):
    """A delivery error no retry can fix: the guard refuses the endpoint's address."""


def post(url: str, body: bytes, headers: dict) -> str | None:
    """POST once through the outbound guard; a redirect is reported, never followed (a
    redirected POST would be re-sent as a GET without its body)."""
    try:
        answer = outbound.request(
            "POST", url, body=body, headers=headers, timeout=TIMEOUT, max_bytes=200, truncate=True
        )
    except outbound.Refused as exc:
        return Refused(_scrub(f"refused: {exc}", url))
    except HTTPException as exc:
        return _scrub(f"the endpoint did not answer HTTP: {type(exc).__name__}: {exc}", url)
    except (OSError, ValueError) as exc:
        return _scrub(f"cannot connect: {type(exc).__name__}: {exc}", url)
    if 200 <= answer.status < 300:
        return None
    # The start of the answer often says why (Slack: "invalid_payload").
    text = " ".join(answer.body.decode("utf-8", "replace").split())
    return _scrub(f"HTTP {answer.status}" + (f": {text}" if text else ""), url)


def _scrub(error: str, url: str) -> str:
    """Errors are stored and logged: keep the endpoint URL (a credential for Slack) out, and
    NUL (an endpoint's garbage) that PostgreSQL would refuse to store."""
    error = error.replace("\x00", "\\x00")
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    for part in (url, parts.path, parts.query, userinfo, parts.password or ""):
        if len(part) > 1:
            error = error.replace(part, "<endpoint URL>")
    return error[:500]


def sweep_notifications(*, now: datetime | None = None) -> int:
    """Re-send queued notifications that no task carries any more: the enqueue failed, a
    worker died mid-attempt, or a broker lost the message. Claims make an extra send harmless.

    One query on the (status, next_attempt_at) index: a row is lost when its next attempt is
    more than STALE past (its first try, the end of its backoff, or the end of the lease of a
    worker that died)."""
    now = now or timezone.now()
    lost = list(
        Notification.objects.filter(status=Status.QUEUED, next_attempt_at__lt=now - STALE)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    return sum(send_now(SEND_TASK, pk) for pk in lost)
