from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error

from failover import __version__, heartbeat
from failover.degrade import probe_broker, probe_cache

VERSION = __version__


def healthz(request):
    """Liveness: this process answers. It touches no dependency, not even the database: an
    orchestrator restarts a process whose liveness fails, and restarting web processes
    cures no outage of PostgreSQL or Redis. /readyz says what is down."""
    return JsonResponse({"status": "ok", "version": VERSION})


# What each shared dependency's outage means for the people using the app.
DEGRADED_EFFECT = {
    "cache": "rate limits and sign-in and step-up failure counts are kept per web process",
    "broker": "background work (DNS changes, readiness checks, webhook processing, "
    "notifications) waits in the database and goes out once the broker is back",
}


def readyz(request):
    """Readiness. Without the database nothing works: 503 "unavailable". Everything else
    degrades, 200 "degraded" naming each with its effect: the shared cache, the Celery
    broker, beat's heartbeat and, for each routed queue, a worker consuming it (heartbeats
    with their age in seconds; stale past HEARTBEAT_STALE_SECONDS; "apart" when the worker
    that took it uses another cache than this process, failover/heartbeat.py).

    Only the database may answer 503: a load balancer pulls every web process that fails its
    check, and people can still read, decide and sign in while Redis, beat or a worker is
    down. Pulling the web tier because beat died would turn a quiet degradation into a full
    outage in the middle of an incident."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        now = timezone.now()
        ages = heartbeat.ages(now)
    except DatabaseError as exc:
        return JsonResponse(
            {
                "status": "unavailable",
                "checks": {"database": {"status": "down", "error": exc.__class__.__name__}},
            },
            status=503,
        )
    checks: dict[str, dict] = {"database": {"status": "ok"}}
    for name, probe in (("cache", probe_cache), ("broker", probe_broker)):
        error = probe()  # only the exception's class: its text can name hosts and ports
        checks[name] = (
            {"status": "ok"}
            if error is None
            else {"status": "down", "error": error, "effect": DEGRADED_EFFECT[name]}
        )
    # Only a cache that answers can tell whether a worker shares it.
    apart = heartbeat.apart(ages, now) if checks["cache"]["status"] == "ok" else []
    for name, age in ages.items():
        seconds = None if age is None else round(age, 1)
        if heartbeat.is_stale(age):
            checks[name] = {
                "status": "stale",
                "age_seconds": seconds,
                "effect": heartbeat.effect(name),
            }
        elif name in apart:
            checks[name] = {"status": "apart", "age_seconds": seconds, "effect": heartbeat.APART}
        else:
            checks[name] = {"status": "ok", "age_seconds": seconds}
    degraded = [name for name, check in checks.items() if check["status"] != "ok"]
    return JsonResponse(
        {
            "status": "degraded" if degraded else "ok",
            "degraded": degraded,
            "stale_after_seconds": settings.HEARTBEAT_STALE_SECONDS,
            "checks": checks,
        }
    )


def not_found(request, exception=None):
    """404 for paths no route matches: JSON under /api/ (clients parse it), HTML elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "not_found", "message": f"no such path: {request.path}"}},
            status=404,
        )
    return page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "server_error", "message": "internal error; it has been logged"}},
            status=500,
        )
    return django_server_error(request)
