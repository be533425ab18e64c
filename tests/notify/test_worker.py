"""Through a real Celery worker and broker: enqueued after commit, retried by countdown."""

import pytest

from failover.notify import payloads
from failover.notify.models import Notification
from failover.services import declare_request
from tests.factories import make_service, user
from tests.harness.worker import celery_worker, wait_for
from tests.notify.conftest import SECRET

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(tmp_path, zone_dir):
    with celery_worker(tmp_path, zone_dir) as started:
        yield started


def test_a_declared_request_reaches_the_webhook_after_one_retry(worker, endpoint, hooks):
    service = make_service("web")
    ops = endpoint(service, "ops", events=["declared"])
    hooks.fail_first = 1
    declare_request(actor=user("declarer"), service=service, target="failover", reason="down")
    row = Notification.objects.get(endpoint=ops)
    wait_for(
        lambda: Notification.objects.get(pk=row.pk).status == "sent",
        what="the notification to be sent",
    )
    row.refresh_from_db()
    assert row.attempts == 2 and len(hooks.requests) == 2
    got = hooks.requests[-1]
    assert got["headers"]["X-Failover-Delivery"] == str(row.pk)
    assert payloads.verify(
        SECRET,
        got["headers"]["X-Failover-Timestamp"],
        got["body"],
        got["headers"]["X-Failover-Signature"],
    )
