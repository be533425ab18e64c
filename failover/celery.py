from __future__ import annotations

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

# The embedded broker writes each message whole before a consumer can see it (failover/fsbroker.py).
TRANSPORT_ALIASES["filesystem"] = "failover.fsbroker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "failover.settings")

app = Celery("failover")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
