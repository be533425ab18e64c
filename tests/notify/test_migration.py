"""The migration that encrypts endpoint URLs and moves the next attempt time into a column:
existing endpoints keep posting to the same URL, queued notifications keep their schedule,
and it runs backwards."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from failover.notify.models import Notification, NotificationEndpoint
from tests.factories import make_service
from tests.tamper import as_owner

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("failover", "0003_failoverrequest_origin_signal_integration_and_more")
AFTER = ("failover", "0004_notification_retry_and_encrypted_url")
SLACK_URL = "https://hooks.slack.com/services/T0001/B0001/XXXXSECRETXXXX"
GENERIC_URL = "http://relay.example.test:8080/hook?token=XXXXTOKENXXXX"


@pytest.fixture
def migrate():
    """Moves the database to a migration and returns the models as they were there; puts
    the database back on the latest migrations afterwards, whatever happened."""

    def to(target):
        with connection.cursor() as cursor, as_owner(cursor):  # migrations are the owner's
            executor = MigrationExecutor(connection)
            executor.migrate([target])
        return executor.loader.project_state([target]).apps

    yield to
    with connection.cursor() as cursor, as_owner(cursor):
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def raw_table(model) -> str:
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return json.dumps(cursor.fetchall(), default=str)


def test_urls_are_encrypted_and_the_next_attempt_time_moves_into_its_column(migrate):
    service = make_service()
    old = migrate(BEFORE)
    Endpoint = old.get_model("failover", "NotificationEndpoint")
    OldNotification = old.get_model("failover", "Notification")
    chat = Endpoint.objects.create(
        service_id=service.pk, name="chat", url=SLACK_URL, format="slack"
    )
    ops = Endpoint.objects.create(service_id=service.pk, name="ops", url=GENERIC_URL)
    due = timezone.now() + timedelta(minutes=3)
    waiting = OldNotification.objects.create(
        endpoint=chat,
        event="declared",
        payload={"body": {"text": "hi"}, "next_attempt_at": due.isoformat()},
    )
    unreadable = OldNotification.objects.create(
        endpoint=ops, event="declared", payload={"body": {"a": 1}, "next_attempt_at": "soon"}
    )
    sent = OldNotification.objects.create(
        endpoint=ops,
        event="approved",
        status="sent",
        payload={"body": {"b": 2}, "next_attempt_at": due.isoformat()},
    )

    migrate(AFTER)

    endpoints = {e.name: e for e in NotificationEndpoint.objects.all()}
    assert endpoints["chat"].get_url() == SLACK_URL
    assert endpoints["chat"].url_display == "https://hooks.slack.com"
    assert endpoints["ops"].get_url() == GENERIC_URL
    assert endpoints["ops"].url_display == "http://relay.example.test:8080"
    raw = raw_table(NotificationEndpoint)
    assert "XXXXSECRETXXXX" not in raw and "XXXXTOKENXXXX" not in raw and "T0001" not in raw
    rows = {row.pk: row for row in Notification.objects.all()}
    assert rows[waiting.pk].next_attempt_at == due
    assert rows[waiting.pk].payload == {"body": {"text": "hi"}}
    # Unreadable counted as due before; it still does (its creation time).
    assert rows[unreadable.pk].next_attempt_at == rows[unreadable.pk].created_at
    assert rows[unreadable.pk].payload == {"body": {"a": 1}}
    assert rows[sent.pk].next_attempt_at is None and rows[sent.pk].payload == {"body": {"b": 2}}

    back = migrate(BEFORE)
    Endpoint = back.get_model("failover", "NotificationEndpoint")
    assert dict(Endpoint.objects.values_list("name", "url")) == {
        "chat": SLACK_URL,
        "ops": GENERIC_URL,
    }
    OldNotification = back.get_model("failover", "Notification")
    assert OldNotification.objects.get(pk=waiting.pk).payload == {
        "body": {"text": "hi"},
        "next_attempt_at": due.isoformat(),
    }
