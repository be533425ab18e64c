"""What a process keeps for its whole life (Django's apps and models, the URLconf and the
views it imports, botocore's service models) moved out of the cyclic garbage collector's sight.

A full collection walks every container object the process holds: about 165,000 in a web
worker once Django and the URLconf are loaded, some tens of milliseconds of a paused process
each time. One comes every few hundred requests, so under a steady load it is the slowest
requests' latency (issue 18: a webhook burst's p99). Frozen objects are never walked again;
what requests allocate is still collected as before. gunicorn calls this once the app is
loaded in a worker (gunicorn.conf.py), a Celery worker (or a pool's child) once its warm-up
has loaded the provider clients (dnsproviders/tasks.py).
"""

from __future__ import annotations

import gc

from django.apps import apps
from django.urls import get_resolver


def freeze_loaded() -> int:
    """Load the URLconf (and so every view and serializer) of a process running Django,
    collect what loading left as garbage, and freeze the rest. Returns how many objects are
    frozen."""
    if apps.ready:
        get_resolver().url_patterns  # noqa: B018  (imports every view module)
    gc.collect()  # garbage now, not frozen for good
    gc.freeze()
    return gc.get_freeze_count()
