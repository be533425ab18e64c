"""Paging-tool intake at the door: which integration a request is for, its credentials and
limit, storing the raw delivery and handing it to a task, and re-sending deliveries whose
task was lost. failover.intake.processing turns stored deliveries into signals.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import cast

from django.conf import settings
from django.core.cache.backends.base import BaseCache
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Q, QuerySet
from django.utils import timezone

from audit.actions import (
    INTAKE_DELIVERY_RECEIVED,
)
from audit.services import record_event
from dnsproviders.ratelimit import take
from failover.degrade import shared_cache, wait_in_window, with_cache
from failover.dispatch import send_now, send_unless_down
from failover.errors import InvalidInput, ServiceError
from failover.intake import credentials, tools
from failover.intake.models import Delivery, Integration

logger = logging.getLogger(__name__)

PROCESS_TASK = "failover.intake.tasks.process_delivery"
MAX_BODY = 1024 * 1024
RECEIVED_AT_EVERY = timedelta(seconds=5)  # how fresh an integration's last_received_at is
STALE = timedelta(seconds=15)  # a delivery still `received` this long lost its task
WAKE = "intake:task-on-its-way"
WAKE_FOR = 10  # seconds: then a delivery sends a task again, in case that one was lost
MAX_HEADERS = 60
SLUG = re.compile(r"[-a-zA-Z0-9_]{1,80}")
Status = Delivery.Status


class Unauthenticated(ServiceError):
    code = "unauthenticated"

    def __init__(self, reason: str):
        # One answer whatever went wrong: naming the integration, or saying that none by that
        # name exists, would let names be probed without a secret. The door logs the reason.
        super().__init__(AUTH_FAILED)
        self.reason = reason


AUTH_FAILED = (
    "authentication failed: check the URL's ?integration= name and the signature or secret"
)


class Throttled(ServiceError):
    code = "throttled"


# --- at the door: which integration, is it really them, are they within their limit ---


def find_integration(kind: str, name: str | None) -> Integration:
    """The integration named by `?integration=<name>`, or the only active one of this kind."""
    active = Integration.objects.filter(kind=kind, active=True)
    if name:
        # Only a slug can name one; anything else (NUL, a novel) never reaches the database.
        found = active.filter(name=name).first() if SLUG.fullmatch(name) else None
        if found is None:
            raise Unauthenticated(f"no active {kind} integration named {name[:80]!r}")
        return found
    found = list(active[:2])
    if not found:
        raise Unauthenticated(f"no active {kind} integration")
    if len(found) > 1:
        raise Unauthenticated(f"several active {kind} integrations and no ?integration=<name>")
    return found[0]


# The integration each door found last, per process: (kind, ?integration= name) -> the row as
# read. A remembered row is never trusted alone: the delivery's INSERT stores nothing unless
# the row still reads the same (`_current`), in that same statement, so a rotated secret, a new
# limit or a deactivation holds from the very next delivery, in every process.
_REMEMBERED: dict[tuple[str, str], Integration] = {}


class Changed(Exception):
    """The remembered integration is no longer what the database holds."""


def forget(kind: str, name: str | None) -> None:
    _REMEMBERED.pop((kind, name or ""), None)


def identify(
    kind: str, name: str | None, headers: Mapping, body: bytes, *, remembered: bool = False
) -> Integration:
    """The integration this delivery proves it comes from, else Unauthenticated. An unknown
    name gets a check against a decoy secret, so it costs what a wrong secret costs.

    `remembered`: start from the row this process read last; a request it does not
    authenticate is checked again against the database's row (a secret may have been added)."""
    key = (kind, name or "")
    integration = _REMEMBERED.get(key) if remembered else None
    if integration is not None:
        try:
            authenticate(integration, headers, body)
            return integration
        except Unauthenticated:
            forget(kind, name)
    try:
        integration = find_integration(kind, name)
    except Unauthenticated:
        secrets = credentials.decoy(kind)
        credentials.authenticate(kind=kind, secrets=secrets, rules={}, headers=headers, body=body)
        raise
    authenticate(integration, headers, body)
    vars(integration)["_named"] = bool(name)  # what `_current` must check again
    _REMEMBERED[key] = integration
    return integration


def accept(kind: str, name: str | None, headers: Mapping, body: bytes) -> Delivery:
    """The door's work: which integration, is it them, within their limit, stored, enqueued.

    From the remembered integration first; if it changed before the INSERT, once more from
    the database's row, stored as before remembering existed (lookup, then INSERT). The
    limit is not taken twice for one delivery unless what changed was the limit itself."""
    integration = identify(kind, name, headers, body, remembered=True)
    throttle(integration)
    try:
        return receive(integration, headers=headers, body=body, confirm=True)
    except Changed:
        forget(kind, name)
    fresh = identify(kind, name, headers, body)
    if (fresh.name, fresh.rate_limit_per_minute) != (
        integration.name,
        integration.rate_limit_per_minute,
    ):
        throttle(fresh)
    return receive(fresh, headers=headers, body=body)


def authenticate(integration: Integration, headers: Mapping, body: bytes) -> None:
    if not credentials.authenticate(
        kind=integration.kind,
        secrets=integration.secrets,
        rules=integration_rules(integration),
        headers=headers,
        body=body,
    ):
        tool = tools.REGISTRY.get(integration.kind)
        scheme = tool.auth_failure(integration_rules(integration)) if tool else "wrong credentials"
        raise Unauthenticated(f"integration {integration.name!r}: {scheme}")


def throttle(integration: Integration) -> None:
    """One delivery off the integration's allowance; a minute's worth may come at once."""
    per_minute = integration.rate_limit_per_minute
    key = f"integration:{integration.name}"
    if per_minute <= 0:  # a limit of 0 accepts nothing (and must not divide by zero)
        wait = 60.0
    elif shared_cache():
        wait = _take_from_window(key, per_minute)
    else:
        wait = take(key, rate=per_minute / 60, burst=per_minute)
    if wait > 0:
        retry = max(1, math.ceil(wait))
        raise Throttled(
            f"intake limit of integration '{integration.name}' ({per_minute}/min) exceeded; "
            f"retry in {retry} s",
            limit=key,
            retry_after=retry,
        )


def _take_from_window(key: str, per_minute: int) -> float:
    """A counter per calendar minute in the shared cache: one atomic increment, where the
    database bucket costs two queries and a contended row at every delivery of a burst.
    While the cache is down, the database bucket counts instead (shared by every process)."""

    def in_database() -> float:
        return take(key, rate=per_minute / 60, burst=per_minute)

    return wait_in_window(f"intake:{key}", per_minute, 60, now=time.time(), fallback=in_database)


def decode(body: bytes) -> tuple[str, object]:
    """The body as text and as JSON; InvalidInput when it is not JSON at all."""
    if len(body) > MAX_BODY:
        raise InvalidInput(f"the body is larger than {MAX_BODY} bytes", {"body": "too large"})
    try:
        text = body.decode("utf-8")
        return text, json.loads(text)
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 JSON", {"body": "not UTF-8"}) from None
    except RecursionError:
        raise InvalidInput("the body is nested too deeply", {"body": "too deep"}) from None
    except ValueError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}", {"body": "not JSON"}) from None


def integration_rules(integration: Integration) -> Mapping:
    return integration.rules if isinstance(integration.rules, Mapping) else {}


def _delivery_key(integration: Integration, payload, body: bytes) -> str:
    """From the delivery's content: a header nobody signed cannot make a replay new. At most
    the column's length."""
    return tools.for_kind(integration.kind).delivery_key(payload, body)[:200]


def _safe_headers(integration: Integration, headers: Mapping) -> dict:
    """The headers worth keeping as evidence, without anything that carries a credential."""
    hidden = credentials.secret_headers(integration.kind, integration_rules(integration))
    kept = {}
    for name, value in list(headers.items())[:MAX_HEADERS]:
        lowered = name.lower()
        if lowered in hidden or any(w in lowered for w in ("secret", "token", "password")):
            continue
        kept[name[:100]] = str(value).replace("\x00", "")[:1000]
    return kept


def receive(
    integration: Integration, *, headers: Mapping, body: bytes, confirm: bool = False
) -> Delivery:
    """Store an authenticated delivery and hand it to a task. A delivery the tool already sent
    (same id) is kept as a `duplicate` marker without its body and is not processed again.

    A new delivery's receipt is audited by the task that processes it, in the same
    transaction, not here: the audit chain's head is one locked row, and a burst of
    deliveries waiting for it at the door would wait behind the worker processing the burst.
    The sweeper re-sends a delivery whose task was lost, so every receipt is audited.

    `confirm`: `integration` is a remembered row, so nothing is stored unless the database's
    row still reads the same; Changed when it does not."""
    text, payload = decode(body)
    kept_headers = _safe_headers(integration, headers)
    external_id = _delivery_key(integration, payload, body)
    window = timedelta(seconds=settings.INTAKE_REPLAY_WINDOW_SECONDS)
    refusal = tools.for_kind(integration.kind).replay_refusal(
        payload, now=timezone.now(), window=window
    )
    if refusal:
        if confirm and not _current(integration).exists():
            raise Changed()
        return _refused(integration, external_id, kept_headers, body, refusal)
    try:
        if connection.in_atomic_block:  # a caller's transaction must survive a duplicate
            with transaction.atomic():
                delivery = _store(integration, external_id, kept_headers, text, confirm)
        else:  # one INSERT in autocommit: a transaction costs four more round trips
            delivery = _store(integration, external_id, kept_headers, text, confirm)
    except IntegrityError:  # only raised once the row was found current: nothing changed
        delivery = _duplicate(integration, external_id, kept_headers, body)
    _mark_received(integration)
    if delivery.status == Status.RECEIVED:
        transaction.on_commit(lambda: wake(delivery.pk), robust=True)  # at once outside one
    return delivery


def wake(delivery_id: int) -> None:
    """Send the worker a processing task, unless one is already on its way: a task takes every
    delivery waiting when it starts (processing.process_waiting), so in a burst a task a
    drain is enough, where a task a delivery cost the door a publish each and the worker a
    task each that found nothing left (issue 18). Needs a cache every process shares (not
    this process's memory); while it is down, every delivery sends its own task.

    Called once the delivery committed: a task that clears the mark (`woken`) and then claims
    sees every delivery whose door found the mark set."""
    if shared_cache() and with_cache(
        lambda store: not cast(BaseCache, store).add(WAKE, delivery_id, timeout=WAKE_FOR),
        fallback=lambda: False,
    ):
        return
    send_unless_down(PROCESS_TASK, delivery_id)


def woken() -> None:
    """The worker found nothing waiting: the next delivery sends a task (`wake`)."""
    if shared_cache():
        with_cache(lambda store: cast(BaseCache, store).delete(WAKE), fallback=lambda: None)


def _current(integration: Integration) -> QuerySet:
    """Its row, if it still reads as `integration` does in all the door relied on, and when a
    door found it without ?integration=, only while it is still the only active one of its
    kind."""
    rows = Integration.objects.filter(
        pk=integration.pk,
        active=True,
        kind=integration.kind,
        name=integration.name,
        account_id=integration.account_id,
        rate_limit_per_minute=integration.rate_limit_per_minute,
        secrets=integration.secrets,
        rules=integration.rules,
    )
    if vars(integration).get("_named"):
        return rows.values("pk")
    others = Integration.objects.filter(kind=integration.kind, active=True).exclude(
        pk=integration.pk
    )
    return rows.exclude(Exists(others)).values("pk")


_COLUMNS = (
    *("integration", "external_id", "received_at", "headers", "body"),
    *("status", "outcome", "attempts"),
)


def _store(
    integration: Integration, external_id: str, headers: dict, text: str, confirm: bool
) -> Delivery:
    values = {
        "integration": integration,
        "external_id": external_id,
        "received_at": timezone.now(),
        "headers": headers,
        "body": text,
        "status": Status.RECEIVED,
        "outcome": "",
        "attempts": 0,
    }
    if not confirm:
        return Delivery.objects.create(**values)
    # The check of the remembered row and the INSERT are one statement: no round trip more
    # than the INSERT alone, and no change can slip in between the two.
    check = vars(integration).get("_current_sql")  # compiled once per remembered row
    if check is None:
        check = vars(integration)["_current_sql"] = _current(integration).query.sql_with_params()
    concrete = {f.name: f for f in Delivery._meta.concrete_fields}
    fields = [concrete[name] for name in _COLUMNS]
    raw = [integration.pk, *(values[name] for name in _COLUMNS[1:])]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(Delivery._meta.db_table)} "
        f"({', '.join(quote(str(f.column)) for f in fields)}) "
        f"SELECT {', '.join(['%s'] * len(fields))} WHERE EXISTS ({check[0]}) "
        f"RETURNING {quote('id')}"
    )
    params = [f.get_db_prep_save(v, connection) for f, v in zip(fields, raw, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *check[1]])
        row = cursor.fetchone()
    if row is None:
        raise Changed()
    delivery = Delivery(pk=row[0], **values)
    delivery._state.adding, delivery._state.db = False, connection.alias
    return delivery


def _duplicate(integration: Integration, external_id: str, headers: dict, body: bytes):
    """A marker without the body; never processed, so its receipt is audited here."""
    with transaction.atomic():
        original = Delivery.objects.filter(integration=integration, external_id=external_id).first()
        delivery = Delivery.objects.create(
            integration=integration,
            headers=headers,
            body="",
            status=Status.DUPLICATE,
            outcome=f"duplicate of delivery #{original.pk if original else '?'} "
            f"({external_id}); not processed again",
            processed_at=timezone.now(),
        )
        audit_receipt(delivery, integration, external_id, body)
    return delivery


def _refused(integration: Integration, external_id: str, headers: dict, body: bytes, why: str):
    """A marker without the body, never processed; its receipt is audited here. Answered 202
    all the same: PagerDuty drops a 4xx without retrying and disables a subscription after
    three in a row, and nothing here would go better on a retry."""
    with transaction.atomic():
        delivery = Delivery.objects.create(
            integration=integration,
            headers=headers,
            body="",
            status=Status.REFUSED,
            outcome=f"{why} ({external_id}); not processed",
            processed_at=timezone.now(),
        )
        audit_receipt(delivery, integration, external_id, body, reason=why)
    _mark_received(integration)
    return delivery


def _mark_received(integration: Integration) -> None:
    """At most every few seconds: a write per delivery would queue a burst behind its lock."""
    now = timezone.now()
    last = integration.last_received_at
    if last is not None and now - last < RECEIVED_AT_EVERY:
        return
    Integration.objects.filter(pk=integration.pk).filter(
        Q(last_received_at__isnull=True) | Q(last_received_at__lt=now - RECEIVED_AT_EVERY)
    ).update(last_received_at=now)
    # A remembered row keeps what it was read with: without this it would write every time.
    integration.last_received_at = now


def audit_receipt(
    delivery: Delivery, integration: Integration, external_id, body: bytes, reason: str = ""
):
    unprocessed = delivery.status in (Status.DUPLICATE, Status.REFUSED)
    record_event(
        action=INTAKE_DELIVERY_RECEIVED,
        obj=delivery,
        actor=integration.account,
        data={
            "integration": integration.name,
            "kind": integration.kind,
            "external_id": external_id,
            "status": delivery.status if unprocessed else Status.RECEIVED,
            "bytes": len(body),
            "received_at": delivery.received_at.isoformat(),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            **({"reason": reason} if reason else {}),
        },
    )


def sweep(*, now=None) -> int:
    """Send a task for deliveries whose task was lost: never sent (the broker was down when
    they arrived, the process died in between, or a task was already on its way that the
    broker then lost) -> how many it was sent for. One task takes every delivery waiting
    (processing.process_waiting), so one is sent, whatever their number.

    Age alone does not tell a lost task from one still queued: in a flood the worker runs
    behind the door, and a task sent for every delivery older than STALE only queued tasks
    for the worker to find nothing in (issue 18). The worker takes the oldest deliveries
    first, so while it is claiming, only a delivery received STALE before the newest one it
    claimed was passed over; later ones may still be on its way. Once it has claimed nothing
    for STALE, whatever waits has no task (or the worker is stuck, and a task costs nothing)."""
    now = now or timezone.now()
    lost_before = now - STALE
    newest = (  # where the worker is: the newest delivery it claimed (door markers have 0)
        Delivery.objects.filter(attempts__gt=0)
        .order_by("-received_at")
        .values_list("received_at", "processed_at")
        .first()
    )
    if newest is not None and newest[1] is not None and newest[1] >= now - STALE:
        lost_before = min(lost_before, newest[0] - STALE)
    stale = Delivery.objects.filter(status=Status.RECEIVED, received_at__lt=lost_before)
    oldest = stale.order_by("received_at").values_list("pk", flat=True).first()
    if oldest is None or not send_now(PROCESS_TASK, oldest):
        return 0
    return stale.count()
