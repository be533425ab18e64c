"""Setting integrations up: the create_integration command and the admin pages."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from failover.intake.models import Delivery, Integration
from failover.secrets import digest
from tests.factories import user
from tests.intake.conftest import make_integration, post

pytestmark = pytest.mark.django_db


def run(*args, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("create_integration", *args, stdout=out)
    return out.getvalue()


def printed_secret(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_create_prints_a_strong_secret_once_and_stores_only_its_digest(db):
    user("pager-bot")
    rules = json.dumps({"services": {"checkout-prod": "shop"}})
    output = run("am", "--kind", "alertmanager", "--account", "pager-bot", "--rules", rules)
    secret = printed_secret(output)
    assert len(secret) >= 40
    integration = Integration.objects.get(name="am")
    assert integration.rules == {"services": {"checkout-prod": "shop"}}
    assert integration.secrets[0]["sha256"] == digest(secret)
    assert secret not in json.dumps(integration.secrets)
    event = AuditEvent.objects.get(action="integration.created")
    assert secret not in json.dumps(event.data)


def test_rotate_adds_a_secret_and_retire_old_keeps_the_newest(client, db, monkeypatch):
    user("pager-bot")
    old = printed_secret(run("og", "--kind", "opsgenie", "--account", "pager-bot"))
    new = printed_secret(run("--rotate", "og"))
    assert len(Integration.objects.get().secrets) == 2

    def accepted(secret):
        return post(client, "opsgenie", {}, HTTP_X_FAILOVER_SECRET=secret).status_code == 202

    assert accepted(old) and accepted(new)
    run("--retire-old", "og")
    assert not accepted(old) and accepted(new)


def test_secret_from_stdin(db, monkeypatch):
    user("pager-bot")
    given = "pd-subscription-secret-" + "x" * 20
    output = run(
        "pd", "--kind", "pagerduty", "--account", "pager-bot", "--secret-stdin",
        stdin=given + "\n", monkeypatch=monkeypatch,
    )  # fmt: skip
    assert printed_secret(output) == given
    assert "fernet" in Integration.objects.get().secrets[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["x", "--kind", "opsgenie", "--account", "nobody"], "no active user"),
        (["x", "--account", "pager-bot"], "--kind is required"),
        (["x", "--kind", "opsgenie", "--account", "pager-bot", "--rules", "[]"], "JSON object"),
        (["x", "--kind", "opsgenie", "--account", "pager-bot", "--rules", "{"], "not JSON"),
        (
            ["x", "--kind", "opsgenie", "--account", "pager-bot", "--rules", '{"metric": "cpu"}'],
            "rules.metric",
        ),
        (["bad name", "--kind", "opsgenie", "--account", "pager-bot"], "invalid name"),
        (["--rotate", "missing"], "no integration"),
    ],
)
def test_bad_arguments_say_what_is_wrong(db, args, message):
    user("pager-bot")
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not Integration.objects.exists()


@pytest.fixture
def admin_client(client, db):
    client.force_login(user("admin", is_staff=True, is_superuser=True))
    return client


def test_admin_lists_integrations_without_their_secrets(admin_client, shop):
    integration, secret = make_integration("alertmanager", "am")
    listing = admin_client.get("/admin/intake/integration/").content.decode()
    assert "am" in listing and "pager-bot" in listing
    page = admin_client.get(f"/admin/intake/integration/{integration.pk}/change/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "1; rotate with manage.py create_integration --rotate am" in body
    assert secret not in body and integration.secrets[0]["sha256"] not in body
    assert admin_client.get("/admin/intake/integration/add/").status_code == 403


def test_admin_edits_rules_and_checks_them(admin_client, shop):
    integration, _ = make_integration("alertmanager", "am")
    url = f"/admin/intake/integration/{integration.pk}/change/"
    form = {
        "account": integration.account_id,
        "active": "on",
        "rate_limit_per_minute": 60,
        "rules": '{"metric": "latency"}',
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200 and "rules.metric" in response.content.decode()
    form["rules"] = '{"services": {"shop-prod": "shop"}}'
    assert admin_client.post(url, form).status_code == 302
    integration.refresh_from_db()
    assert integration.rules == {"services": {"shop-prod": "shop"}}
    assert integration.rate_limit_per_minute == 60
    assert len(integration.secrets) == 1  # untouched by the form
    assert AuditEvent.objects.filter(action="config.changed").exists()


def test_admin_shows_deliveries_read_only_with_filters(admin_client, shop):
    integration, secret = make_integration("alertmanager", "am")
    post(client=admin_client, kind="alertmanager", payload={"alerts": []},
         HTTP_AUTHORIZATION=f"Bearer {secret}")  # fmt: skip
    delivery = Delivery.objects.get()
    for query in ("", "?status__exact=received", f"?integration__id__exact={integration.pk}"):
        assert admin_client.get("/admin/intake/delivery/" + query).status_code == 200
    page = admin_client.get(f"/admin/intake/delivery/{delivery.pk}/change/")
    assert page.status_code == 200 and secret not in page.content.decode()
    assert admin_client.post(f"/admin/intake/delivery/{delivery.pk}/delete/").status_code == 403
