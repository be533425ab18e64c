"""Adding endpoints (command and admin): the signing secret is stored encrypted, shown at
most once, and kept out of the audit log along with the URL's credential-bearing path."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.models import AuditEvent
from failover.models import Notification, NotificationEndpoint
from failover.secrets import decrypt, encrypt
from failover.services import declare_request
from tests.factories import make_service, user

pytestmark = pytest.mark.django_db

SLACK_URL = "https://hooks.slack.com/services/T0001/B0001/XXXXSECRETXXXX"


def run(*args):
    out = io.StringIO()
    call_command("add_notification_endpoint", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def stdin(monkeypatch):
    def feed(text):
        monkeypatch.setattr("sys.stdin", io.StringIO(text))

    return feed


def audit_text():
    return json.dumps(list(AuditEvent.objects.values("action", "data")))


def test_the_command_generates_a_secret_prints_it_once_and_stores_it_encrypted():
    make_service()
    output = run("shop", "ops", "https://hooks.example.test/failover", "--events=declared,vetoed")
    endpoint = NotificationEndpoint.objects.get(name="ops")
    printed = output.strip().splitlines()[-1]
    assert len(printed) >= 32 and printed not in endpoint.secret
    assert decrypt(endpoint.secret) == printed
    assert endpoint.format == "generic" and endpoint.events == ["declared", "vetoed"]
    assert printed not in audit_text()
    assert AuditEvent.objects.filter(action="config.created", object_id=str(endpoint.pk)).exists()


def test_the_command_reads_the_secret_from_stdin_and_does_not_echo_it(stdin):
    make_service()
    stdin("a-secret-from-the-vault-1234\n")
    output = run("shop", "ops", "https://hooks.example.test/", "--secret-stdin")
    endpoint = NotificationEndpoint.objects.get(name="ops")
    assert decrypt(endpoint.secret) == "a-secret-from-the-vault-1234"
    assert "a-secret-from-the-vault-1234" not in output


def test_a_slack_endpoint_has_no_secret_and_its_url_stays_out_of_the_audit_log():
    make_service()
    output = run("shop", "chat", SLACK_URL, "--format", "slack")
    endpoint = NotificationEndpoint.objects.get(name="chat")
    assert endpoint.secret == "" and "secret" not in output.lower()
    assert "XXXXSECRETXXXX" not in audit_text() and "hooks.slack.com" in audit_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope", "ops", "https://x.test/"), "no service"),
        (("shop", "ops", "ftp://x.test/"), "http"),
        (("shop", "ops", "https://x.test/", "--events=declared,exploded"), "unknown events"),
        (("shop", "ops", "https://x.test/", "--format=slack", "--secret-stdin"), "not signed"),
    ],
)
def test_the_command_refuses_bad_input(args, message):
    make_service()
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not NotificationEndpoint.objects.exists()


def test_a_short_secret_on_stdin_is_refused(stdin):
    make_service()
    stdin("short\n")
    with pytest.raises(CommandError, match="at least 16"):
        run("shop", "ops", "https://x.test/", "--secret-stdin")


@pytest.fixture
def admin_client(client):
    client.force_login(user("admin", is_staff=True, is_superuser=True))
    return client


def test_the_admin_secret_is_write_only(admin_client):
    service = make_service()
    page = admin_client.post(
        reverse("admin:failover_notificationendpoint_add"),
        {
            "service": service.pk,
            "name": "ops",
            "url": "https://hooks.example.test/x/y",
            "format": "generic",
            "events": ["declared", "vetoed"],
            "active": "on",
            "new_secret": "typed-in-secret-0123456789",
        },
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    endpoint = NotificationEndpoint.objects.get(name="ops")
    assert decrypt(endpoint.secret) == "typed-in-secret-0123456789"
    assert endpoint.events == ["declared", "vetoed"]
    change = admin_client.get(
        reverse("admin:failover_notificationendpoint_change", args=[endpoint.pk])
    ).content.decode()
    assert "typed-in-secret" not in change and endpoint.secret not in change
    assert "set" in change
    listing = admin_client.get(reverse("admin:failover_notificationendpoint_changelist"))
    assert "https://hooks.example.test/…" in listing.content.decode()
    assert "typed-in-secret" not in audit_text() and "/x/y" not in audit_text()


def test_the_admin_keeps_the_secret_when_the_field_is_left_empty(admin_client):
    service = make_service()
    endpoint = NotificationEndpoint.objects.create(
        service=service, name="ops", url="https://h.test/", secret=encrypt("kept-secret-123456")
    )
    page = admin_client.post(
        reverse("admin:failover_notificationendpoint_change", args=[endpoint.pk]),
        {"service": service.pk, "name": "ops", "url": "https://h.test/", "format": "generic"},
    )
    assert page.status_code == 302
    endpoint.refresh_from_db()
    assert decrypt(endpoint.secret) == "kept-secret-123456" and endpoint.active is False


def test_the_admin_refuses_a_generic_endpoint_without_a_secret(admin_client):
    service = make_service()
    page = admin_client.post(
        reverse("admin:failover_notificationendpoint_add"),
        {"service": service.pk, "name": "ops", "url": "https://h.test/", "format": "generic"},
    )
    assert page.status_code == 200 and "signs with a secret" in page.content.decode()
    assert not NotificationEndpoint.objects.exists()


def test_notifications_are_listed_filtered_searched_and_read_only(admin_client):
    service = make_service()
    NotificationEndpoint.objects.create(
        service=service, name="chat", url="https://h.test/", format="slack"
    )
    declare_request(actor=user("declarer"), service=service, target="failover", reason="down")
    url = reverse("admin:failover_notification_changelist")
    for params in ({}, {"status": "queued"}, {"event": "declared"}, {"q": "shop"}):
        assert admin_client.get(url, params).status_code == 200
    row = Notification.objects.first()
    detail = admin_client.get(reverse("admin:failover_notification_change", args=[row.pk]))
    assert detail.status_code == 200 and "blocks" in detail.content.decode()
    assert admin_client.get(reverse("admin:failover_notification_add")).status_code == 403
