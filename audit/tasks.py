"""Celery finds `audit.tasks` (autodiscovery); the audit app's tasks register by being imported
here."""

from audit.checkpoints import checkpoint_task  # noqa: F401
from audit.jobs import run_verification  # noqa: F401
