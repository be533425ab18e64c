"""SSO through a real OIDC provider process (devidp): who signs in, with which groups, and
what the organisation's changes at the provider do here (invariant 14)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from approvals.models import ServiceAccount
from approvals.selectors import verdict_for
from approvals.services import record_decision
from audit.models import AuditEvent
from failover.demo.seed import seed_demo
from failover.models import Service
from failover.services import declare_request
from identity.models import ExternalIdentity
from tests.harness.ports import free_port
from tests.identity.idp import sign_in_through

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def client():
    # The provider accepts loopback redirect URIs only: the product is "localhost" here.
    return Client(HTTP_HOST="localhost")


def signed_in_as(client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def groups_of(username: str) -> set[str]:
    return set(User.objects.get(username=username).groups.values_list("name", flat=True))


def test_first_sign_in_creates_the_person_with_the_mapped_groups(sso, client):
    _, done = sign_in_through(client, "iris")
    assert done.status_code == 302 and done["Location"] == "/"
    assert signed_in_as(client) == "iris"
    iris = User.objects.get(username="iris")
    assert not iris.has_usable_password()
    assert groups_of("iris") == {"Incident commanders"}  # "everyone" is not mapped
    link = ExternalIdentity.objects.get(user=iris)
    assert (link.issuer, link.subject) == (sso.issuer, "iris")
    assert link.groups == ["incident-commanders", "everyone"]
    event = AuditEvent.objects.filter(action="identity.signed_in").latest("seq")
    assert event.actor == "iris" and event.data["created"] is True
    synced = AuditEvent.objects.get(action="identity.groups_synced")
    assert synced.data["added"] == ["Incident commanders"] and synced.data["removed"] == []


def test_a_username_taken_locally_is_never_linked_by_name(sso, client):
    local = User.objects.create_user("ava", password="local-pass-123")
    sign_in_through(client, "ava")
    assert signed_in_as(client) == "ava-2"
    assert not ExternalIdentity.objects.filter(user=local).exists()
    assert groups_of("ava") == set()


def test_removed_at_the_provider_loses_the_authority_and_the_open_approval(sso, client):
    seed_demo()
    sign_in_through(client, "ava")
    ava = User.objects.get(username="ava")
    assert groups_of("ava") == {"Availability leads"}
    checkout = Service.objects.get(slug="checkout")
    request = declare_request(
        actor=User.objects.get(username="ic"), service=checkout, target="failover", reason="EU"
    )
    approval = record_decision(
        actor=ava,
        request_id=request.pk,
        kind="approve",
        role="availability",
        plan_hash=request.plan_hash,
    )
    assert "availability" not in {m.role for m in verdict_for(request).missing}

    sso.set_user("ava", groups=[])
    client.post("/logout/")
    sign_in_through(client, "ava")

    assert groups_of("ava") == set()
    approval.refresh_from_db()
    assert approval.voided_at is not None
    assert "availability" in {m.role for m in verdict_for(request).missing}
    assert AuditEvent.objects.filter(action="decision.voided").exists()
    synced = AuditEvent.objects.filter(action="identity.groups_synced").latest("seq")
    assert synced.data["removed"] == ["Availability leads"]


def test_unmapped_groups_are_left_alone(sso, client):
    from django.contrib.auth.models import Group

    sign_in_through(client, "ian")
    ian = User.objects.get(username="ian")
    ian.groups.add(Group.objects.create(name="Auditors"))  # granted here, not by the provider
    sso.set_user("ian", groups=["executors"])
    client.post("/logout/")
    sign_in_through(client, "ian")
    assert groups_of("ian") == {"Executors", "Auditors"}


def test_a_disabled_person_is_refused_at_the_provider(sso, client):
    answer, done = sign_in_through(client, "gone")
    assert answer.status_code == 403 and "disabled at the identity provider" in answer.text
    assert done is None
    assert not User.objects.filter(username="gone").exists()


def test_a_person_disabled_here_is_not_signed_in(sso, client):
    sign_in_through(client, "ava")
    User.objects.filter(username="ava").update(is_active=False)
    client.post("/logout/")
    _, done = sign_in_through(client, "ava")
    assert done.status_code == 403 and b"disabled here" in done.content
    assert signed_in_as(client) is None


def test_a_service_account_never_signs_in_through_the_provider(sso, client):
    sign_in_through(client, "iris")
    ServiceAccount.objects.create(user=User.objects.get(username="iris"))
    client.post("/logout/")
    _, done = sign_in_through(client, "iris")
    assert done.status_code == 403 and b"service account" in done.content
    assert signed_in_as(client) is None
    refused = AuditEvent.objects.get(action="identity.sign_in_refused")
    assert "service account" in refused.data["reason"]


def test_a_forged_callback_is_refused_with_a_reason(sso, client):
    response = client.get("/oidc/callback/?code=made-up&state=made-up")
    assert response.status_code == 403
    assert b"did not complete" in response.content


def test_the_rp_sends_a_pkce_challenge_and_nonce(sso, client):
    location = client.get("/oidc/authenticate/")["Location"]
    assert location.startswith(sso.issuer + "/authorize?")
    assert "code_challenge=" in location and "code_challenge_method=S256" in location
    assert "nonce=" in location and "state=" in location


def test_provider_down_gives_a_clear_page_not_a_500(sso, client, settings):
    sign_in_through(client, "iris")  # signed in before the outage
    sso.stop()
    from identity import oidc

    oidc.reset_caches()
    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"
    assert client.get("/").status_code == 200  # signed-in people keep working
    assert signed_in_as(client) == "iris"
    client.post("/logout/")
    page = client.get("/login/")
    assert page.status_code == 200 and b"Sign in with devidp" in page.content
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 503
    assert b"devidp is not answering" in response.content


def test_local_passwords_off_refuses_every_password(sso, client, settings):
    User.objects.create_superuser("root", password="root-pass-123")
    settings.LOCAL_PASSWORDS = False
    page = client.get("/login/")
    assert b'name="password"' not in page.content and b"Sign in with devidp" in page.content
    refused = client.post("/login/", {"username": "root", "password": "root-pass-123"})
    assert refused.status_code == 403 and b"Local passwords are off" in refused.content
    admin = client.post("/admin/login/", {"username": "root", "password": "root-pass-123"})
    assert admin.status_code == 403
    assert signed_in_as(client) is None
    assert client.get("/admin/login/")["Location"].startswith("/login/?next=")


def test_break_glass_admin_signs_in_with_a_local_password_when_allowed(sso, client, settings):
    User.objects.create_superuser("root", password="root-pass-123")
    settings.LOCAL_PASSWORDS = True
    response = client.post("/admin/login/", {"username": "root", "password": "root-pass-123"})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_staff_reach_the_admin_console_through_sso(sso, client, settings):
    settings.LOCAL_PASSWORDS = False
    sign_in_through(client, "iris")
    User.objects.filter(username="iris").update(is_staff=True)
    assert client.get("/admin/").status_code == 200


def test_signing_in_through_the_provider_unlocks_a_locked_step_up(sso, client):
    import time

    from django.core.cache import cache

    from identity import stepup

    sign_in_through(client, "iris")
    iris = User.objects.get(username="iris")
    cache.set(stepup._key(iris), [time.time()] * stepup.MAX_FAILURES, stepup.WINDOW_SECONDS)
    binding = stepup.Binding("approve", "request:1", "")
    with pytest.raises(stepup.StepUpError, match="locked"):
        stepup.confirm(iris, binding, {"provider_proof": "guess"})
    client.post("/logout/")
    sign_in_through(client, "iris")
    with pytest.raises(stepup.StepUpError, match="not one of yours"):
        stepup.confirm(iris, binding, {"provider_proof": "guess"})


def test_the_sign_in_returns_to_the_page_asked_for_never_elsewhere(sso, client):
    _, done = sign_in_through(client, "iris", start="/oidc/authenticate/?next=/services/checkout/")
    assert done["Location"] == "/services/checkout/"
    client.post("/logout/")
    _, done = sign_in_through(client, "iris", start="/oidc/authenticate/?next=https://evil.test/")
    assert done["Location"] == "/"


def test_signing_out_ends_the_provider_session_too(sso, client):
    """On a shared machine, "Sign out" must not leave the provider signed in for the next
    person: the product sends the browser to the provider's end_session, which comes back to
    the sign-in page. A local sign-in signs out locally only."""
    from urllib.parse import parse_qs, urlsplit

    sign_in_through(client, "iris")
    out = client.post("/logout/")
    assert signed_in_as(client) is None
    location = urlsplit(out["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{sso.issuer}/end_session"
    query = parse_qs(location.query)
    assert query["post_logout_redirect_uri"] == ["http://localhost/login/"]
    import requests

    back = requests.get(out["Location"], allow_redirects=False, timeout=5)
    assert (back.status_code, back.headers["Location"]) == (302, "http://localhost/login/")
    local = User.objects.create_user("lou", password="local-pass-123")
    client.force_login(local)
    assert client.post("/logout/")["Location"] == "/login/"
