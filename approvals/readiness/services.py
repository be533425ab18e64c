"""Readiness checks of a request's failover target: run them, store them as evidence, attest
secret rotations, and lift the system veto a failing identity-critical check places.

Network I/O happens outside any transaction; results and their audit events are written in
one short transaction afterwards. The checkers themselves are pure
(`approvals.readiness.checks`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from approvals.readiness import checks
from approvals.readiness.checks.run import run_isolated
from approvals.readiness.models import ReadinessCheck, SecretAttestation
from approvals.readiness.selectors import (
    ca_bundle_for,
    deadline_seconds,
    jwks_origins,
    latest_checks_by_request,
    required_secrets,
    run_budget,
    secret_max_age_days,
    timeout,
    tls_min_days,
)
from approvals.services import settle
from audit.actions import (
    READINESS_CHECKED,
    READINESS_REQUESTED,
    READINESS_SECRET_ATTESTED,
    READINESS_SYSTEM_VETO_LIFTED,
)
from audit.services import record_event
from failover.chain import authorities_of, holds
from failover.dispatch import enqueue
from failover.errors import Conflict, InvalidInput, NotAuthorised, NotFound
from failover.models import FailoverRequest, Target
from failover.services import READINESS_TASK as TASK
from failover.services import lock_request

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

MAX_REASON = 2000
OPEN_STATES = ("pending", "approved")


# --- running ------------------------------------------------------------------------------


def latest_rotations(target: Target) -> dict[str, datetime]:
    found: dict[str, datetime] = {}
    for name, rotated_at in SecretAttestation.objects.filter(target=target).values_list(
        "secret_name", "rotated_at"
    ):
        if name not in found or rotated_at > found[name]:
            found[name] = rotated_at
    return found


def gather(target: Target, *, now: datetime | None = None) -> list[checks.CheckResult]:
    """Run every check of one target, each isolated from the others (an exception or a hang
    is that check's failed result). Network I/O: call outside any transaction."""
    now = now or timezone.now()
    bundle = ca_bundle_for(target)
    run = {
        checks.TLS: partial(
            checks.check_tls,
            address=target.address,
            hostnames=list(target.certificate_hostnames or []),
            ca_bundle=bundle,
            min_days=tls_min_days(),
            timeout=timeout(),
            now=now,
        ),
        checks.IDENTITY_PROVIDER: partial(
            checks.check_identity_provider,
            issuer=target.oidc_issuer,
            ca_bundle=bundle,
            timeout=timeout(),
            jwks_origins=jwks_origins(),
        ),
        checks.SECRETS: partial(
            checks.check_secrets,
            required=required_secrets(target),
            rotated_at=latest_rotations(target),  # read here: the checkers run in threads
            max_age_days=secret_max_age_days(),
            now=now,
        ),
        checks.HEALTH: partial(
            checks.check_health, url=target.health_url, ca_bundle=bundle, timeout=timeout()
        ),
    }
    return run_isolated(run, budget=run_budget())


def storable(value: object, limit: int = 1000) -> Any:
    """Evidence as the database takes it: PostgreSQL refuses NUL in text and JSON, and a
    server's garbage must not make the whole run's results unstorable."""
    if isinstance(value, str):
        value = value.replace("\x00", "\\x00")
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, dict):
        return {str(storable(k, 200)): storable(v, limit) for k, v in list(value.items())[:50]}
    if isinstance(value, list | tuple):
        return [storable(v, limit) for v in list(value)[:50]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return storable(repr(value), limit)


def run_readiness_checks(*, request_id: int, actor: User | None = None) -> list[ReadinessCheck]:
    """Check the request's target and store each result as evidence, audited. Returns the new
    rows. Must not be called inside a transaction (the checks do network I/O)."""
    request = (
        FailoverRequest.objects.select_related("service", "to_target").filter(pk=request_id).first()
    )
    if request is None:
        raise NotFound(f"no failover request #{request_id}")
    target = request.to_target
    return store_results(request, target, gather(target), actor=actor)


def store_results(
    request: FailoverRequest,
    target: Target,
    results: Iterable[checks.CheckResult],
    *,
    actor: User | None = None,
) -> list[ReadinessCheck]:
    """Write the results as evidence, audited, and bring the request in line with them."""
    rows = []
    with transaction.atomic():
        # The request's lock first, as decisions take it: a sweeper recording "never
        # reported" and a late run storing real results do not interleave, and the later
        # writer's rows are the newer ones.
        request = lock_request(request.pk)
        checked_at = timezone.now()
        for result in results:
            row = ReadinessCheck.objects.create(
                request=request,
                target=target,
                kind=result.kind,
                identity_critical=result.identity_critical,
                ok=result.ok,
                reason=storable(result.reason, MAX_REASON),
                details=storable(result.details),
                checked_at=checked_at,
            )
            record_event(
                action=READINESS_CHECKED,
                obj=row,
                actor=actor,
                data={
                    "request": request.pk,
                    "target": str(target),
                    "kind": row.kind,
                    "ok": row.ok,
                    "identity_critical": row.identity_critical,
                    "system_veto": row.is_system_veto,
                    "reason": row.reason,
                    "details": row.details,
                },
            )
            rows.append(row)
        # Passing checks may be the last thing an approved request waited for, and a failing
        # one what must stop it: bring the request in line with the verdict now. Reporting
        # checks never execute: that stays a person's explicit, step-up confirmed act.
        settle(request, actor)
    return rows


def request_readiness_checks(*, actor: User, request_id: int) -> None:
    """On demand (request page / API): anyone holding an authority on the service may ask for
    a fresh run; it is queued after commit and audited."""
    request = FailoverRequest.objects.select_related("service").filter(pk=request_id).first()
    if request is None:
        raise NotFound(f"no failover request #{request_id}")
    if not authorities_of(actor, request.service):
        raise NotAuthorised(
            "any authority",
            request.service.slug,
            f"you hold no authority on service '{request.service.slug}'",
        )
    with transaction.atomic():
        record_event(
            action=READINESS_REQUESTED, obj=request, actor=actor, data={"request": request.pk}
        )
        enqueue(TASK, request.pk)


def resend_missing_checks(
    *, older_than: timedelta = timedelta(seconds=30), now: datetime | None = None
) -> int:
    """Queue the checks again for open requests declared a while ago whose checks never
    reported (none stored, or only "never reported" ones). Past the deadline, first record
    each check as failed: identity-critical ones stand as system vetoes saying they never
    reported, so nothing waits on them forever, and a late real run still replaces them.
    Returns how many runs were queued."""
    now = now or timezone.now()
    deadline = timedelta(seconds=deadline_seconds())
    # Only the readiness run's own kinds count: identity drill evidence stored on a request
    # (approvals.readiness.identity_drill) is not that run reporting.
    reported = ReadinessCheck.objects.filter(kind__in=checks.KINDS).values("request_id")
    waiting = dict(
        FailoverRequest.objects.filter(
            ~Q(pk__in=reported) | Q(readiness_checks__details__not_reported=True),
            state__in=OPEN_STATES,
            created_at__lte=now - older_than,
        )
        .distinct()
        .values_list("pk", "created_at")
    )
    latest = latest_checks_by_request(waiting)
    count = 0
    for request_id, created_at in waiting.items():
        by_kind = {k: v for k, v in latest.get(request_id, {}).items() if k in checks.KINDS}
        if any(not row.details.get("not_reported") for row in by_kind.values()):
            continue  # a run reported since
        if not by_kind and created_at <= now - deadline:
            record_not_reported(request_id, deadline.total_seconds())
        enqueue(TASK, request_id)
        count += 1
    return count


def record_not_reported(request_id: int, seconds: float) -> list[ReadinessCheck]:
    """Every check of a request whose checks never reported, recorded as failed."""
    request = FailoverRequest.objects.select_related("to_target").get(pk=request_id)
    with transaction.atomic():
        if lock_request_checks_exist(request_id):
            return []  # a run stored its results meanwhile
        results = [checks.not_reported(kind, seconds, "the declaration") for kind in checks.KINDS]
        logger.warning(
            "readiness checks of request %s never reported within %g s: recorded as failed",
            request_id,
            seconds,
        )
        return store_results(request, request.to_target, results)


def lock_request_checks_exist(request_id: int) -> bool:
    """Under the request's lock: has any check of the readiness run been stored for it?"""
    lock_request(request_id)
    return ReadinessCheck.objects.filter(request_id=request_id, kind__in=checks.KINDS).exists()


# --- acting -------------------------------------------------------------------------------


def attest_secret(
    *,
    actor: User,
    target: Target,
    secret_name: str,
    rotated_at: datetime,
    comment: str = "",
) -> SecretAttestation:
    """A holder of `approve_identity` on the target's service records a secret's rotation."""
    if not holds(actor, target.service, "approve_identity"):
        raise NotAuthorised("approve_identity", target.service.slug)
    errors = {}
    secret_name = (secret_name or "").strip()
    if not secret_name:
        errors["secret_name"] = "name the secret"
    elif len(secret_name) > 200:
        errors["secret_name"] = "at most 200 characters"
    if not isinstance(rotated_at, datetime) or timezone.is_naive(rotated_at):
        errors["rotated_at"] = "give the rotation time with a time zone"
    elif rotated_at > timezone.now() + timedelta(minutes=5):
        errors["rotated_at"] = "the rotation time is in the future"
    comment = (comment or "").strip()
    if len(comment) > MAX_REASON:  # refused, never cut: the evidence is what they wrote
        errors["comment"] = f"at most {MAX_REASON} characters (it has {len(comment)})"
    if errors:
        raise InvalidInput("the attestation is not valid", errors)
    with transaction.atomic():
        attestation = SecretAttestation.objects.create(
            target=target,
            secret_name=secret_name,
            rotated_at=rotated_at,
            attested_by=actor,
            comment=comment,
        )
        record_event(
            action=READINESS_SECRET_ATTESTED,
            obj=attestation,
            actor=actor,
            data={
                "target": str(target),
                "secret": secret_name,
                "rotated_at": rotated_at.isoformat(),
                "comment": attestation.comment,
            },
        )
    return attestation


def lift_system_veto(*, actor: User, check_id: int, reason: str) -> ReadinessCheck:
    """Lift the system veto of one failing identity-critical check: needs `veto` authority on
    the request's service and a written reason; audited."""
    reason = (reason or "").strip()
    request_id = (
        ReadinessCheck.objects.filter(pk=check_id).values_list("request_id", flat=True).first()
    )
    if request_id is None:
        raise NotFound(f"no readiness check #{check_id}")
    with transaction.atomic():
        request = lock_request(request_id)  # the same lock order as decisions take
        check = ReadinessCheck.objects.select_for_update().get(pk=check_id)
        check.request = request
        service = request.service
        if not holds(actor, service, "veto"):
            raise NotAuthorised("veto", service.slug)
        if not reason:
            raise InvalidInput(
                "say why the failing check may be overridden",
                {"reason": "a written reason is required"},
            )
        if len(reason) > MAX_REASON:
            raise InvalidInput("the reason is too long", {"reason": f"at most {MAX_REASON}"})
        if not (check.identity_critical and not check.ok):
            raise Conflict("this check placed no system veto")
        if check.lifted_at is not None:
            raise Conflict(f"this system veto was already lifted by {check.lifted_by}")
        if check.request.state not in OPEN_STATES:
            raise Conflict(f"cannot lift a system veto: the request is {check.request.state}")
        check.lifted_by = actor
        check.lift_reason = reason
        check.lifted_at = timezone.now()
        check.save(update_fields=["lifted_by", "lift_reason", "lifted_at"])
        record_event(
            action=READINESS_SYSTEM_VETO_LIFTED,
            obj=check,
            actor=actor,
            data={
                "request": check.request_id,
                "kind": check.kind,
                "check_reason": check.reason,
                "reason": reason,
            },
        )
        # Like a lifted personal veto: bring the request in line with the verdict (and execute
        # on approval when the policy says so and nothing else blocks).
        settle(request, actor)
    return check
