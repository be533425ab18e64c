"""Celery finds `failover.tasks`; the sub-packages' tasks register by being imported here."""

from dnsproviders.readiness_tasks import *  # noqa: F403
from failover.intake.tasks import *  # noqa: F403
from failover.notify.tasks import *  # noqa: F403
