"""Celery finds `failover.tasks`; the sub-packages' tasks register by being imported here."""

from failover.intake.tasks import *  # noqa: F403
from failover.notify.tasks import *  # noqa: F403
