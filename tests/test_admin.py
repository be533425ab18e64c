"""The admin console: everything browsable, evidence and request state never editable."""

import importlib.metadata

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from failover.demo.seed import seed_demo
from failover.models import FailoverRequest, Service
from failover.services import declare_request
from tests.factories import make_service, user

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    seed_demo()


@pytest.fixture
def admin_client(client, demo):
    client.force_login(user("admin"))
    return client


@pytest.fixture
def checkout_request(demo):
    checkout = Service.objects.get(slug="checkout")
    return declare_request(actor=user("ic"), service=checkout, target="failover", reason="EU down")


MODELS = [
    "failover/service",
    "failover/target",
    "failover/threshold",
    "failover/recordvalue",
    "failover/governedrecord",
    "failover/signal",
    "failover/failoverrequest",
    "approvals/policy",
    "approvals/decision",
    "audit/auditevent",
    "dnsproviders/provideraccount",
    "dnsproviders/dnschange",
    "dnsproviders/rollbackcheck",
]


@pytest.mark.parametrize("model", MODELS)
def test_every_model_lists_searches_and_filters(admin_client, checkout_request, model):
    url = f"/admin/{model}/"
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(url, {"q": "checkout"}).status_code == 200


def test_service_page_shows_the_authority_chain(admin_client):
    checkout = Service.objects.get(slug="checkout")
    page = admin_client.get(reverse("admin:failover_service_change", args=[checkout.pk]))
    body = page.content.decode()
    assert "Chain complete." in body
    assert "Identity leads (identity)" in body
    legacy = Service.objects.get(slug="legacy-billing")
    body = admin_client.get(reverse("admin:failover_service_change", args=[legacy.pk])).content
    assert b"no holder for: approve_identity, veto, execute, rollback" in body
    listing = admin_client.get(reverse("admin:failover_service_changelist")).content.decode()
    assert "missing approve_identity, veto, execute, rollback" in listing


def test_request_page_shows_the_plan_and_what_is_missing(admin_client, checkout_request):
    url = reverse("admin:failover_failoverrequest_change", args=[checkout_request.pk])
    body = admin_client.get(url).content.decode()
    assert "198.51.100.10" in body and "203.0.113.10" in body
    assert "availability (0/1), identity (0/1), incident_response (0/1)" in body
    assert "identity provider changes" in body


def test_request_state_cannot_be_changed_by_hand(admin_client, checkout_request):
    url = reverse("admin:failover_failoverrequest_change", args=[checkout_request.pk])
    admin_client.post(url, {"state": "applied"})
    checkout_request.refresh_from_db()
    assert checkout_request.state == "pending"
    assert admin_client.get(reverse("admin:failover_failoverrequest_add")).status_code == 403


def test_cancel_action_goes_through_the_services_layer(admin_client, checkout_request):
    response = admin_client.post(
        reverse("admin:failover_failoverrequest_changelist"),
        {"action": "cancel_selected", "_selected_action": [checkout_request.pk]},
        follow=True,
    )
    # The admin is a superuser but holds no declare authority on checkout: refused.
    assert "you do not hold the &#x27;declare&#x27; authority" in response.content.decode()
    assert FailoverRequest.objects.get().state == "pending"


def test_the_admin_offers_no_act_that_needs_step_up(admin_client, checkout_request):
    """Re-planning clears a registry-changed block (invariant 13): only the request page and
    the API offer it, with step-up; a posted admin action of that name does nothing."""
    page = admin_client.get(reverse("admin:failover_failoverrequest_changelist"))
    assert "replan_selected" not in page.content.decode()
    plan = checkout_request.plan_hash
    admin_client.post(
        reverse("admin:failover_failoverrequest_changelist"),
        {"action": "replan_selected", "_selected_action": [checkout_request.pk]},
    )
    assert FailoverRequest.objects.get().plan_hash == plan
    assert not AuditEvent.objects.filter(action__startswith="request.replan").exists()


def test_audit_events_are_read_only_even_for_superusers(admin_client, checkout_request):
    event = AuditEvent.objects.first()
    change = reverse("admin:audit_auditevent_change", args=[event.pk])
    admin_client.post(change, {"action": "rewritten"})
    assert AuditEvent.objects.get(pk=event.pk).action == event.action
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403


def test_config_edits_in_the_admin_are_audited(admin_client):
    from dnsproviders.models import ProviderAccount

    account = ProviderAccount.objects.get(name="embedded-zones")
    url = reverse("admin:dnsproviders_provideraccount_change", args=[account.pk])
    data = {
        "name": account.name,
        "kind": account.kind,
        "settings": '{"directory": "zones2"}',
        "description": "moved",
    }
    assert admin_client.post(url, data).status_code == 302
    event = AuditEvent.objects.filter(action="config.changed").last()
    assert (event.actor, event.object_type) == ("admin", "dnsproviders.provideraccount")
    assert event.data["fields"] == {"settings": "{'directory': 'zones2'}", "description": "moved"}


def test_secrets_are_refused_in_provider_settings(admin_client):
    url = reverse("admin:dnsproviders_provideraccount_add")
    data = {"name": "r53", "kind": "route53", "settings": '{"aws_secret_access_key": "AKIA"}'}
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "looks like a secret" in response.content.decode()
    data["settings"] = '{"tsig_secret_env": "TSIG_KEY", "role_arn": "arn:aws:iam::1:role/x"}'
    assert admin_client.post(url, data).status_code == 302


def test_the_auditor_reads_everything_and_changes_nothing(client, demo, checkout_request):
    client.force_login(user("auditor"))
    assert client.get("/admin/audit/auditevent/").status_code == 200
    assert client.get("/admin/failover/failoverrequest/").status_code == 200
    checkout = Service.objects.get(slug="checkout")
    client.post(reverse("admin:failover_service_change", args=[checkout.pk]), {"name": "pwned"})
    assert Service.objects.get(pk=checkout.pk).name == "Checkout"


def test_healthz(client, db):
    version = importlib.metadata.version("failover-approvals")
    assert client.get("/healthz").json() == {"status": "ok", "version": version}


@pytest.mark.parametrize(
    "path",
    [
        "/admin/failover/service/x/permissions/",
        "/admin/failover/service/x/permissions/user-manage/1/",
        "/admin/failover/service/1/permissions/user-manage/x/",
        "/admin/failover/service/1/permissions/group-manage/x/",
    ],
)
def test_the_permission_pages_answer_a_word_for_an_id_with_404(admin_client, path):
    make_service("x")
    assert admin_client.get(path).status_code == 404
