"""Adding endpoints (command and admin): the URL and the signing secret are stored encrypted,
the secret is shown at most once, the URL never (only its host), and neither reaches the
audit log."""

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from audit.models import AuditEvent
from failover.notify.models import Notification, NotificationEndpoint
from failover.secrets import decrypt, encrypt
from failover.services import declare_request
from tests.factories import make_service, user
from tests.notify.conftest import new_endpoint

pytestmark = pytest.mark.django_db

SLACK_URL = "https://hooks.slack.com/services/T0001/B0001/XXXXSECRETXXXX"
SLACK_PATH = "/services/T0001/B0001/XXXXSECRETXXXX"


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


def raw_endpoint_rows() -> str:
    """Every column of every endpoint row as the database holds it (no model in between)."""
    table = connection.ops.quote_name(NotificationEndpoint._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return json.dumps(cursor.fetchall(), default=str)


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
    assert "XXXXSECRETXXXX" not in output and "https://hooks.slack.com" in output


def test_the_url_is_stored_encrypted_and_only_its_host_in_plain_text():
    make_service()
    run("shop", "chat", SLACK_URL, "--format", "slack")
    raw = raw_endpoint_rows()
    assert "XXXXSECRETXXXX" not in raw and "T0001" not in raw
    endpoint = NotificationEndpoint.objects.get(name="chat")
    assert endpoint.url_display == "https://hooks.slack.com"
    assert endpoint.url_display in raw and endpoint.url_encrypted in raw
    assert decrypt(endpoint.url_encrypted) == endpoint.get_url() == SLACK_URL


def test_the_command_reads_the_url_then_the_secret_from_stdin(stdin):
    make_service()
    stdin(f"{SLACK_URL}\na-secret-from-the-vault-1234\n")
    output = run("shop", "ops", "-", "--secret-stdin")
    endpoint = NotificationEndpoint.objects.get(name="ops")
    assert endpoint.get_url() == SLACK_URL
    assert decrypt(endpoint.secret) == "a-secret-from-the-vault-1234"
    assert "XXXXSECRETXXXX" not in output and "XXXXSECRETXXXX" not in audit_text()


def test_a_refused_url_is_not_quoted_back():
    make_service()
    with pytest.raises(CommandError) as refused:
        run("shop", "chat", "ftp://hooks.slack.com/services/XXXXSECRETXXXX")
    assert "XXXXSECRETXXXX" not in str(refused.value)
    assert not NotificationEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (SLACK_URL, "https://hooks.slack.com"),
        ("HTTPS://Hooks.Example.TEST:8443/x?token=abc", "https://hooks.example.test:8443"),
        ("http://user:pw@10.0.0.1/hook", "http://10.0.0.1"),
        ("http://[2001:db8::1]:8080/hook", "http://[2001:db8::1]:8080"),
        ("http://relay/hook", "http://relay"),
    ],
)
def test_only_scheme_host_and_port_are_kept_for_display(url, shown):
    endpoint = NotificationEndpoint()
    endpoint.set_url(url)
    assert endpoint.url_display == shown
    assert endpoint.get_url() == url and url not in endpoint.url_encrypted


@pytest.mark.parametrize(
    "url",
    [
        "",
        "hooks.slack.com/services/XXXXSECRETXXXX",
        "ftp://hooks.slack.com/XXXXSECRETXXXX",
        "javascript:alert(1)",
        "https:///XXXXSECRETXXXX",
        "https://hooks.slack.com:port/XXXXSECRETXXXX",
        "https://hooks slack.com/XXXXSECRETXXXX",
        "https://hooks.slack.com/XXXXSECRETXXXX\n",
        "https://exa$mple.test/XXXXSECRETXXXX",
        "https://" + "a" * 3000,
    ],
)
def test_set_url_refuses_what_is_not_an_http_url_with_a_host(url):
    endpoint = NotificationEndpoint()
    with pytest.raises(ValidationError) as refused:
        endpoint.set_url(url)
    assert "XXXXSECRETXXXX" not in str(refused.value)
    assert endpoint.url_encrypted == "" and endpoint.url_display == ""


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


def add_url():
    return reverse("admin:notify_notificationendpoint_add")


def change_url(endpoint):
    return reverse("admin:notify_notificationendpoint_change", args=[endpoint.pk])


def test_the_admin_secret_is_write_only(admin_client):
    service = make_service()
    page = admin_client.post(
        add_url(),
        {
            "service": service.pk,
            "name": "ops",
            "new_url": "https://hooks.example.test/x/y",
            "format": "generic",
            "events": ["declared", "vetoed"],
            "active": "on",
            "new_secret": "typed-in-secret-0123456789",
        },
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    endpoint = NotificationEndpoint.objects.get(name="ops")
    assert decrypt(endpoint.secret) == "typed-in-secret-0123456789"
    assert endpoint.get_url() == "https://hooks.example.test/x/y"
    assert endpoint.events == ["declared", "vetoed"]
    change = admin_client.get(change_url(endpoint)).content.decode()
    assert "typed-in-secret" not in change and endpoint.secret not in change
    assert "set" in change
    listing = admin_client.get(reverse("admin:notify_notificationendpoint_changelist"))
    assert "https://hooks.example.test" in listing.content.decode()
    assert "typed-in-secret" not in audit_text() and "/x/y" not in audit_text()


def test_the_admin_never_shows_the_url(admin_client):
    service = make_service()
    page = admin_client.post(
        add_url(),
        {"service": service.pk, "name": "chat", "new_url": SLACK_URL, "format": "slack"},
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    endpoint = NotificationEndpoint.objects.get(name="chat")
    assert endpoint.get_url() == SLACK_URL
    pages = {
        "change": admin_client.get(change_url(endpoint)),
        "list": admin_client.get(reverse("admin:notify_notificationendpoint_changelist")),
        "search": admin_client.get(
            reverse("admin:notify_notificationendpoint_changelist"), {"q": "hooks.slack.com"}
        ),
        "history": admin_client.get(
            reverse("admin:notify_notificationendpoint_history", args=[endpoint.pk])
        ),
    }
    for name, page in pages.items():
        html = page.content.decode()
        assert page.status_code == 200, name
        assert "XXXXSECRETXXXX" not in html and "T0001" not in html, name
        assert endpoint.url_encrypted not in html, name
    assert "https://hooks.slack.com" in pages["change"].content.decode()
    assert "chat" in pages["search"].content.decode()
    assert "XXXXSECRETXXXX" not in audit_text() and "hooks.slack.com" in audit_text()
    assert "XXXXSECRETXXXX" not in raw_endpoint_rows()


def test_the_admin_requires_a_url_on_creation_and_refuses_a_bad_one(admin_client):
    service = make_service()
    data = {"service": service.pk, "name": "chat", "format": "slack"}
    page = admin_client.post(add_url(), data)
    assert page.status_code == 200 and "This field is required" in page.content.decode()
    page = admin_client.post(add_url(), {**data, "new_url": "ftp://h.test/XXXXSECRETXXXX"})
    html = page.content.decode()
    assert page.status_code == 200 and "http:// or https://" in html
    assert "XXXXSECRETXXXX" not in html
    assert not NotificationEndpoint.objects.exists()


def test_the_admin_keeps_the_url_and_secret_when_the_fields_are_left_empty(admin_client):
    service = make_service()
    endpoint = new_endpoint(
        service, "ops", "https://h.test/keep/me", secret=encrypt("kept-secret-123456")
    )
    page = admin_client.post(
        change_url(endpoint),
        {"service": service.pk, "name": "ops", "format": "generic"},
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    endpoint.refresh_from_db()
    assert decrypt(endpoint.secret) == "kept-secret-123456" and endpoint.active is False
    assert endpoint.get_url() == "https://h.test/keep/me"


def test_the_admin_replaces_the_url_and_audits_only_its_host(admin_client):
    service = make_service()
    endpoint = new_endpoint(service, "chat", "https://old.test/old/path", format="slack")
    page = admin_client.post(
        change_url(endpoint),
        {
            "service": service.pk,
            "name": "chat",
            "format": "slack",
            "active": "on",
            "new_url": SLACK_URL,
        },
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    endpoint.refresh_from_db()
    assert endpoint.get_url() == SLACK_URL and endpoint.url_display == "https://hooks.slack.com"
    event = AuditEvent.objects.filter(action="config.changed").latest("seq")
    assert event.data["fields"] == {"url": "https://hooks.slack.com"}


def test_the_admin_refuses_a_generic_endpoint_without_a_secret(admin_client):
    service = make_service()
    page = admin_client.post(
        add_url(),
        {"service": service.pk, "name": "ops", "new_url": "https://h.test/", "format": "generic"},
    )
    assert page.status_code == 200 and "signs with a secret" in page.content.decode()
    assert not NotificationEndpoint.objects.exists()


def test_notifications_are_listed_filtered_searched_and_read_only(admin_client):
    service = make_service()
    new_endpoint(service, "chat", "https://h.test/", format="slack")
    declare_request(actor=user("declarer"), service=service, target="failover", reason="down")
    url = reverse("admin:notify_notification_changelist")
    for params in ({}, {"status": "queued"}, {"event": "declared"}, {"q": "shop"}):
        assert admin_client.get(url, params).status_code == 200
    row = Notification.objects.first()
    detail = admin_client.get(reverse("admin:notify_notification_change", args=[row.pk]))
    assert detail.status_code == 200 and "blocks" in detail.content.decode()
    assert "next attempt" in detail.content.decode().lower()
    assert admin_client.get(reverse("admin:notify_notification_add")).status_code == 403
