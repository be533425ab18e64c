"""A request as the API presents it, remembered for the next read until its data changes or
time alone would change it.

Building the answer costs several queries and the verdict; most reads during an incident ask
for a request whose data has not moved since the last read. The key is the request page's
data fingerprint (approvals/fingerprints.py: one query over everything the request's
presentation is made of, read BEFORE the answer is built, so a change landing meanwhile leaves
the answer under a fingerprint no later read matches) and the answer carries the moment time
alone would change it (approvals/freshness.py). Nothing in the answer depends on who asks;
whether they may see it does, so each caller (person and token) is remembered as allowed
under the same fingerprint, which moves with every grant and group membership on the service.
Redis down: this process's memory (failover/degrade.py), as true there as in Redis.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from django.core.cache.backends.base import BaseCache
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework import exceptions
from rest_framework.request import Request

from approvals.fingerprints import fingerprint_of, request_facts
from failover.api.access import token_of
from failover.degrade import with_cache
from failover.precompiled import LARGEST_ID

PREFIX = "api:request:v1"
SALT = "failover.api.presented"


def read(
    request: Request,
    pk: int,
    *,
    build: Callable[[tuple], tuple[dict, datetime]],
    visible: Callable[[], bool],
) -> dict:
    """The request `pk` as `build(facts)` presents it (with the moment it stops being true),
    from memory when nothing it is made of moved since. `facts` are the fingerprint's, read
    before `build` is called; `visible()` says whether the caller may see the request."""
    facts, fingerprint = _facts(pk)
    seen_key, data_key = _keys(request, pk, fingerprint)
    found = with_cache(lambda c: cast(BaseCache, c).get_many([seen_key, data_key]))
    now = time.time()
    seen = _admitted(seen_key, found.get(seen_key), now, visible)
    body, until_at = _opened(data_key, found.get(data_key), now)
    if body is not None:
        if not seen:
            _remember({seen_key: b""}, until_at)
        return json.loads(body)
    presented, until = build(facts)
    keep(request, pk, fingerprint, presented, until)
    return presented


def facts_seen_by(request: Request, pk: int, *, visible: Callable[[], bool]) -> tuple:
    """Request `pk`'s fingerprint facts, read now, once the caller may see it: remembered as
    allowed under them (by an earlier read or write), else `visible()` (404 when not). For a
    write that reads them first anyway, so a caller seen since nothing moved asks nothing."""
    facts, fingerprint = _facts(pk)
    seen_key = _keys(request, pk, fingerprint)[0]
    _admitted(
        seen_key, with_cache(lambda c: cast(BaseCache, c).get(seen_key)), time.time(), visible
    )
    return facts


def _admitted(seen_key: str, entry: Any, now: float, visible: Callable[[], bool]) -> bool:
    """True when the caller is remembered as allowed under the key's fingerprint; else False
    once `visible()` says they may see the request (404 when not)."""
    if _opened(seen_key, entry, now)[0] is not None:
        return True
    if not visible():
        raise exceptions.NotFound()
    return False


def _facts(pk: int) -> tuple[tuple, str]:
    if pk > LARGEST_ID:
        raise exceptions.NotFound()
    facts = request_facts(pk)
    fingerprint = fingerprint_of(facts)
    if facts is None or fingerprint is None:
        raise exceptions.NotFound()
    return facts, fingerprint


def keep(request: Request, pk: int, fingerprint: str, presented: dict, until: datetime) -> None:
    """Remember `presented`, built after `fingerprint` was read, for the next readers."""
    seen_key, data_key = _keys(request, pk, fingerprint)
    body = json.dumps(presented, cls=DjangoJSONEncoder, separators=(",", ":")).encode()
    _remember({data_key: body, seen_key: b""}, until.timestamp())


def after_write(
    request: Request, pk: int, *, build: Callable[[tuple], tuple[dict, datetime]]
) -> dict:
    """The answer to a write that committed: built by `build(facts)` after the fingerprint
    was read, and remembered under it, so the pages and integrations the act wakes up read
    what the writer got."""
    facts = request_facts(pk)
    if facts is None:
        raise exceptions.NotFound()
    presented, until = build(facts)
    fingerprint = fingerprint_of(facts)
    if fingerprint is not None:
        keep(request, pk, fingerprint, presented, until)
    return presented


def _keys(request: Request, pk: int, fingerprint: str) -> tuple[str, str]:
    """Whether this caller (person and token) may see it, and the answer itself."""
    token = token_of(request)
    return (
        f"{PREFIX}:seen:{request.user.pk}:{token.pk if token else 0}:{fingerprint}",
        f"{PREFIX}:data:{pk}:{fingerprint}",
    )


def _mac(key: str, payload: bytes, until: float) -> str:
    # Sealed: what the cache hands back is served to callers, so an entry this code did not
    # write (a forged verdict, garbage, another key's answer) is never taken for one.
    message = f"{key}\x1f{until!r}\x1f".encode() + payload
    return salted_hmac(SALT, message, algorithm="sha256").hexdigest()


def _opened(key: str, entry: Any, now: float) -> tuple[bytes | None, float]:
    """The payload of a sealed entry still in its time, or (None, 0)."""
    if not (isinstance(entry, tuple) and len(entry) == 3):
        return None, 0.0
    payload, until, mac = entry
    if not (isinstance(payload, bytes) and isinstance(until, float) and isinstance(mac, str)):
        return None, 0.0
    if until <= now or not constant_time_compare(mac, _mac(key, payload, until)):
        return None, 0.0
    return payload, until


def _remember(entries: dict[str, bytes], until: float) -> None:
    seconds = int(until - time.time()) + 1
    if seconds > 0:
        sealed = {key: (body, until, _mac(key, body, until)) for key, body in entries.items()}
        with_cache(lambda c: cast(BaseCache, c).set_many(sealed, timeout=seconds))
