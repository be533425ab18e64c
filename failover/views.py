from django.db import connection
from django.http import JsonResponse
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error

from failover.degrade import probe_broker, probe_cache


def healthz(request):
    """Liveness and database reachability, for load balancers and docker-compose. It does not
    look at Redis: the app keeps working without it, so its outage must not get the web
    processes restarted; /readyz says what is degraded."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means "not ready"
        return JsonResponse(
            {"status": "error", "database": str(exc.__class__.__name__)}, status=503
        )
    return JsonResponse({"status": "ok"})


# What each shared dependency's outage means for the people using the app.
DEGRADED_EFFECT = {
    "cache": "rate limits and sign-in and step-up failure counts are kept per web process",
    "broker": "background work (DNS changes, readiness checks, webhook processing, "
    "notifications) waits in the database and goes out once the broker is back",
}


def readyz(request):
    """Readiness: the database (without it nothing works: 503), the shared cache and the
    Celery broker (without them the app degrades: 200 with status "degraded", naming each)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means "not ready"
        return JsonResponse(
            {
                "status": "unavailable",
                "checks": {"database": {"status": "down", "error": exc.__class__.__name__}},
            },
            status=503,
        )
    checks = {"database": {"status": "ok"}}
    for name, probe in (("cache", probe_cache), ("broker", probe_broker)):
        error = probe()  # only the exception's class: its text can name hosts and ports
        checks[name] = (
            {"status": "ok"}
            if error is None
            else {"status": "down", "error": error, "effect": DEGRADED_EFFECT[name]}
        )
    degraded = [name for name, check in checks.items() if check["status"] != "ok"]
    return JsonResponse(
        {"status": "degraded" if degraded else "ok", "degraded": degraded, "checks": checks}
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
