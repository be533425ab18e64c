"""Notify became an app of its own: audit events about an endpoint written before say
"failover.notificationendpoint", those written since "notify.notificationendpoint". A caller
limited to a service sees both kinds about that service's endpoints, and neither about
another service's."""

import pytest

from audit.export import events
from audit.models import AuditEvent
from audit.services import record_event
from failover.api.access import audit_events_of_services, exported_rows_of_services
from failover.notify.models import NotificationEndpoint
from tests.factories import make_service

pytestmark = pytest.mark.django_db


def endpoint(service, name):
    row = NotificationEndpoint(service=service, name=name)
    row.set_url("https://hooks.example.test/x")
    row.save()
    return row


def test_endpoint_events_under_the_old_and_the_new_label_belong_to_their_service():
    shop, other = make_service("shop"), make_service("other")
    mine, theirs = endpoint(shop, "chat"), endpoint(other, "chat")
    data = {"object": "endpoint", "fields": {}}
    new = record_event(action="config.created", obj=mine, actor=None, data=data)
    old = record_event(
        action="config.changed",
        object_type="failover.notificationendpoint",  # as written before the move
        object_id=str(mine.pk),
        actor=None,
        data=data,
    )
    elsewhere = record_event(action="config.created", obj=theirs, actor=None, data=data)
    assert new.object_type == "notify.notificationendpoint"

    seen = AuditEvent.objects.filter(audit_events_of_services({shop.pk}))
    assert {new.pk, old.pk} <= set(seen.values_list("pk", flat=True))
    assert elsewhere.pk not in set(seen.values_list("pk", flat=True))

    exported = {row[0] for row in exported_rows_of_services(events(), {shop.pk})}  # seq
    assert {new.seq, old.seq} <= exported and elsewhere.seq not in exported
