"""Reading readiness: each request's latest checks, the system vetoes they place, and the
settings the checks run with. Used by the rules engine's callers, the pages and the API."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db.models import QuerySet

from approvals.readiness import checks
from approvals.readiness.models import ReadinessCheck
from failover.models import Target
from failover.precompiled import compiled


def tls_min_days() -> int:
    return int(settings.READINESS_TLS_MIN_DAYS)


def secret_max_age_days() -> int:
    return int(settings.READINESS_SECRET_MAX_AGE_DAYS)


def timeout() -> float:
    return float(settings.READINESS_TIMEOUT)


def deadline_seconds() -> float:
    """How long a check may take to report: READINESS_DEADLINE_TIMEOUTS x READINESS_TIMEOUT."""
    return timeout() * int(settings.READINESS_DEADLINE_TIMEOUTS)


def run_budget() -> float:
    """The in-run deadline, kept inside the Celery soft time limit: a task killed before it
    stores anything would lose the checks that did answer."""
    budget = deadline_seconds()
    soft = settings.CELERY_TASK_SOFT_TIME_LIMIT
    return min(budget, max(soft - 10, 1)) if soft else budget


def jwks_origins() -> list[str]:
    return list(settings.READINESS_JWKS_ALLOWED_ORIGINS or [])


def ca_bundle_for(target: Target) -> str | None:
    """The pinned CA bundle file for the target's certificate trust, or None (system store)."""
    bundles = settings.READINESS_CA_BUNDLES or {}
    found = bundles.get(target.certificate_trust)
    return str(found) if found else None


def required_secrets(target: Target) -> list[str]:
    """Names of the secrets the target depends on (one list for every target for now)."""
    return list(settings.READINESS_REQUIRED_SECRETS)


def latest_checks_by_request(request_ids: Iterable[int]) -> dict[int, dict[str, ReadinessCheck]]:
    """Each request's latest check per kind, in one query."""
    found: dict[int, dict[str, ReadinessCheck]] = defaultdict(dict)
    ids = list(request_ids)
    rows: Iterable[ReadinessCheck]
    if len(ids) == 1:  # a decision, a detail read: its SQL written once per process
        query = compiled("latest-checks", lambda one: _checks_of([one]), "one")
        rows = query.objects(one=ids[0])
    else:
        rows = _checks_of(ids)
    for row in rows:
        found[row.request_id].setdefault(row.kind, row)
    return found


def _checks_of(ids: list[int]) -> QuerySet[ReadinessCheck]:
    return (
        ReadinessCheck.objects.filter(request__in=ids)
        .select_related("lifted_by")
        .order_by("request_id", "kind", "-checked_at", "-id")
    )


def latest_checks(request_id: int) -> dict[str, ReadinessCheck]:
    return latest_checks_by_request([request_id]).get(request_id, {})


def system_vetoes_by_request(request_ids: Iterable[int]) -> dict[int, list[ReadinessCheck]]:
    """The standing system vetoes: latest identity-critical check per kind that failed and was
    not lifted. A newer passing check of the same kind clears the veto of an older one."""
    return {
        request_id: vetoes
        for request_id, by_kind in latest_checks_by_request(request_ids).items()
        if (vetoes := vetoes_among(by_kind))
    }


def vetoes_among(by_kind: dict[str, ReadinessCheck]) -> list[ReadinessCheck]:
    """The system vetoes among one request's latest checks, in the fixed order of kinds."""
    return [row for kind in checks.KINDS if (row := by_kind.get(kind)) and row.is_system_veto]


def system_vetoes(request_id: int) -> list[ReadinessCheck]:
    return system_vetoes_by_request([request_id]).get(request_id, [])
