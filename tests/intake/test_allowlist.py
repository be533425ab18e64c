"""An integration feeds signals only to the services it is explicitly allowed, and only where
its account holds `declare` (DESIGN invariant 15). Everything goes through the webhook door."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from approvals.selectors import verdict_for
from audit.models import AuditEvent
from failover.intake.models import Delivery, Integration
from failover.models import FailoverRequest, Signal
from failover.services import declare_request, revoke_authority
from tests.factories import make_service, user
from tests.intake.conftest import let_declare, make_integration, post, process_all
from tests.intake.test_opsgenie import action

pytestmark = pytest.mark.django_db


def og_send(client, secret, name="create", **details):
    payload = action("Create" if name == "create" else "Close", details=details or None)
    return post(client, "opsgenie", payload, HTTP_X_FAILOVER_SECRET=secret)


@pytest.fixture
def status_page(db):
    """Another team's pre-approved service with a human-declared request pending on it."""
    service = make_service(
        "status-page", mode="preapproved_thresholds", thresholds=(("error_rate", "gte", 5.0),)
    )
    request = declare_request(
        actor=user("declarer"), service=service, target="failover", reason="planned drill"
    )
    return service, request


def breach_for(slug):
    return {"service": slug, "metric": "error_rate", "value": "90"}


def assert_refused_and_nothing_changed(request, reason):
    delivery = Delivery.objects.get()
    assert delivery.status == "refused"
    assert reason in delivery.outcome
    assert not Signal.objects.exists()
    assert FailoverRequest.objects.count() == 1
    verdict = verdict_for(request)
    assert not verdict.preapproved and not verdict.may_execute
    refused = AuditEvent.objects.get(action="intake.signal_refused")
    assert refused.object_id == str(delivery.pk)
    assert refused.data["service"] == "status-page" and reason in refused.data["reason"]


def test_an_integration_without_authority_cannot_pre_approve_another_service(client, status_page):
    """The issue's report: an Opsgenie integration whose account holds nothing anywhere posted
    a breaching signal for status-page, and a human's pending request became pre-approved."""
    _, request = status_page
    _, secret = make_integration("opsgenie", account="og-bot", services=())
    assert og_send(client, secret, **breach_for("status-page")).status_code == 202
    process_all()
    assert_refused_and_nothing_changed(
        request, "service 'status-page' is not on the allow-list of integration 'opsgenie'"
    )
    assert "(it may feed: no service)" in Delivery.objects.get().outcome


def test_declare_alone_is_not_enough_the_service_must_be_on_the_list(client, shop, status_page):
    """One bot account serves two tools: its `declare` on status-page (granted for the other
    tool) does not let this integration, allowed only `shop`, feed status-page."""
    service, request = status_page
    let_declare(service)  # pager-bot holds declare on shop and status-page
    _, secret = make_integration("opsgenie", services=["shop"])
    og_send(client, secret, **breach_for("status-page"))
    process_all()
    assert_refused_and_nothing_changed(request, "(it may feed: shop)")


def test_the_list_alone_is_not_enough_the_account_must_hold_declare(client, status_page):
    _, request = status_page
    _, secret = make_integration("opsgenie", account="og-bot", services=["status-page"])
    og_send(client, secret, **breach_for("status-page"))
    process_all()
    assert_refused_and_nothing_changed(
        request, "account 'og-bot' does not hold the 'declare' authority on service 'status-page'"
    )


def test_declare_taken_away_later_refuses_the_next_signal(client, shop):
    _, secret = make_integration("opsgenie")
    revoke_authority(actor=None, service=shop, authority="declare", user=user("pager-bot"))
    og_send(client, secret)
    process_all()
    assert Delivery.objects.get().status == "refused" and not Signal.objects.exists()


def test_allowed_with_declare_feeds_end_to_end_and_others_in_the_same_delivery_are_refused(
    client, shop, status_page
):
    """Alertmanager groups alerts: the allowed one is applied, the other refused, each said."""
    _, request = status_page
    _, secret = make_integration("alertmanager")  # allowed: shop; pager-bot declares on shop
    alerts = [
        {
            "status": "firing",
            "labels": {"service": slug, "metric": "error_rate"},
            "annotations": {"value": "40"},
            "fingerprint": f"fp-{slug}",
        }
        for slug in ("shop", "status-page")
    ]
    payload = {"version": "4", "alerts": alerts}
    response = post(client, "alertmanager", payload, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 202
    process_all()
    delivery = Delivery.objects.get()
    assert delivery.status == "processed"
    signal = Signal.objects.get()
    assert signal.service == shop
    opened = FailoverRequest.objects.get(service=shop)
    assert opened.origin_signal == signal and verdict_for(opened).may_execute
    assert "fp-status-page: refused: service 'status-page' is not on the allow-list" in (
        delivery.outcome
    )
    assert not verdict_for(request).preapproved


def test_a_signal_of_a_service_not_allowed_cannot_be_resolved_either(client, shop):
    """Opsgenie matches a Close to its signal by the alert id: another integration of the
    kind, not allowed `shop`, cannot end shop's signal, naming the service or not."""
    _, feeder = make_integration("opsgenie", "og-shop")
    post(client, "opsgenie", action("Create"), query="?integration=og-shop",
         HTTP_X_FAILOVER_SECRET=feeder)  # fmt: skip
    for name, details in (("og-named", None), ("og-unnamed", {})):
        _, secret = make_integration("opsgenie", name, services=())
        post(client, "opsgenie", action("Close", details=details), query=f"?integration={name}",
             HTTP_X_FAILOVER_SECRET=secret)  # fmt: skip
    process_all()
    assert Signal.objects.get().status == "firing"
    assert Delivery.objects.get(integration__name="og-named").status == "refused"
    unnamed = Delivery.objects.get(integration__name="og-unnamed")
    assert unnamed.status == "ignored" and "no firing signal to resolve" in unnamed.outcome


# --- setting the list: the command and the admin ---


def run(*args):
    out = io.StringIO()
    call_command("create_integration", *args, stdout=out)
    return out.getvalue()


def test_the_command_sets_the_list_and_warns_where_declare_is_missing(client, shop):
    make_service("vault")
    user("pager-bot")
    output = run(
        "am", "--kind", "alertmanager", "--account", "pager-bot",
        "--service", "shop", "--service", "vault",
    )  # fmt: skip
    integration = Integration.objects.get(name="am")
    assert sorted(integration.services.values_list("slug", flat=True)) == ["shop", "vault"]
    assert "pager-bot does not hold 'declare' on vault" in output
    created = AuditEvent.objects.get(action="integration.created")
    assert created.data["services"] == ["shop", "vault"]

    run("--disallow", "am", "--service", "vault")
    assert list(integration.services.values_list("slug", flat=True)) == ["shop"]
    changed = AuditEvent.objects.filter(action="integration.services_changed").latest("pk")
    assert changed.data["removed"] == ["vault"] and changed.data["services"] == ["shop"]

    output = run("--allow", "am", "--service", "vault")
    assert "am may feed: shop, vault" in output
    with pytest.raises(CommandError, match="no service 'nope'"):
        run("--allow", "am", "--service", "nope")
    with pytest.raises(CommandError, match="need at least one --service"):
        run("--allow", "am")


def test_created_without_services_it_feeds_nothing_and_says_so(client, shop):
    user("pager-bot")
    output = run("og", "--kind", "opsgenie", "--account", "pager-bot")
    assert "og feeds no service yet" in output
    secret = output.strip().splitlines()[-1]
    og_send(client, secret)
    process_all()
    assert Delivery.objects.get().status == "refused" and not Signal.objects.exists()


def test_an_unknown_service_refuses_the_whole_creation(db):
    user("pager-bot")
    with pytest.raises(CommandError, match="no service 'nope'"):
        run("x", "--kind", "opsgenie", "--account", "pager-bot", "--service", "nope")
    assert not Integration.objects.exists()


def test_the_admin_edits_the_list_and_audits_it_by_slug(client, shop):
    vault = make_service("vault")
    integration, _ = make_integration("alertmanager", "am")
    client.force_login(user("admin", is_staff=True, is_superuser=True))
    url = f"/admin/intake/integration/{integration.pk}/change/"
    page = client.get(url).content.decode()
    assert f'<option value="{vault.pk}">' in page  # offered
    form = {
        "account": integration.account_id,
        "active": "on",
        "rate_limit_per_minute": 600,
        "rules": "{}",
        "services": [vault.pk],
    }
    assert client.post(url, form).status_code == 302
    assert list(integration.services.values_list("slug", flat=True)) == ["vault"]
    event = AuditEvent.objects.get(action="integration.services_changed")
    assert event.actor == "admin"
    assert (event.data["added"], event.data["removed"]) == (["vault"], ["shop"])
    page = client.get(url).content.decode()
    assert "lacks &#x27;declare&#x27;" in page or "lacks 'declare'" in page
    listing = client.get("/admin/intake/integration/").content.decode()
    assert "vault" in listing
