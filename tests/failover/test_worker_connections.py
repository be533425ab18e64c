"""A worker keeps its database connections from task to task (failover/celery.py), checked
before each task: one a failed task left broken is not the next task's problem."""

from __future__ import annotations

import signal
from types import SimpleNamespace

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import task_postrun, task_prerun
from django.db import connection

from failover.models import Service

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class Task:
    """What the signals are sent with: a task run by a worker, not eagerly."""

    name = "a task"
    request = SimpleNamespace(is_eager=False)


TASK = Task()


def cut_off_mid_query() -> None:
    """What a soft time limit does to a task waiting on the database: a signal whose handler
    raises while the driver waits for the answer."""

    def soft_limit(*_):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, soft_limit)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(SoftTimeLimitExceeded), connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(3)")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_task(state: str) -> None:
    task_prerun.send(sender=TASK, task_id="1", task=TASK, args=(), kwargs={})
    task_postrun.send(sender=TASK, task_id="1", task=TASK, args=(), kwargs={}, state=state)


def test_the_next_task_after_one_cut_off_mid_query_gets_a_working_connection():
    Service.objects.exists()
    cut_off_mid_query()
    run_task("FAILURE")  # the cut-off task's end, then the next task's start
    assert Service.objects.exists() is False  # not "another command is already in progress"


def test_a_task_that_succeeded_leaves_its_connection_open_for_the_next():
    Service.objects.exists()
    before = connection.connection
    run_task("SUCCESS")
    Service.objects.exists()
    assert connection.connection is before
