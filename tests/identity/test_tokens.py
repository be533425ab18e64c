"""Tokens with owners and lifetimes (issue 14): who may mint which token, how long it lives,
and a human act by a token only within its person's recent step-up, renewed over the API."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from approvals.models import ApiToken, Decision, ServiceAccount
from approvals.tokens import (
    MINT_ACT,
    RENEW_ACT,
    create_token,
    mint_target,
    renew_target,
    rotate_token,
)
from audit.models import AuditEvent
from failover.errors import InvalidInput
from failover.services import declare_request
from tests.factories import user
from tests.tokens import DEMO_PASSWORD, personal_token, step_up

pytestmark = pytest.mark.django_db
TOKENS_PAGE = "http://127.0.0.1:8000/account/tokens/"
STEP_UP_URL = "/api/v1/tokens/current/step-up/"


@pytest.fixture
def request_(service, people):
    return declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu-west-1 down"
    )


def bearer(plain: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return api


def approve(api, request, **headers):
    body = {"kind": "approve", "role": "availability", "plan_hash": request.plan_hash}
    return api.post(
        f"/api/v1/failover-requests/{request.pk}/decisions/", body, format="json", **headers
    )


def soon(hours: float = 1):
    return timezone.now() + timedelta(hours=hours)


def old_token(owner, **fields) -> tuple[ApiToken, str]:
    """A token minted before these rules: every action, no expiry, never stepped up."""
    plain = f"fa_0ld{owner.pk}_secret-of-an-old-token"
    token = ApiToken.objects.create(
        user=owner,
        name="old",
        prefix=f"0ld{owner.pk}",
        digest=hashlib.sha256(plain.encode()).hexdigest(),
        **fields,
    )
    return token, plain


def machine(name="pager-bot"):
    bot = user(name)
    ServiceAccount.objects.create(user=bot, description="paging tool")
    return bot


# --- minting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "actions", [["decide"], ["execute"], ["rollback"], [], ["read", "execute"]]
)
def test_an_acting_token_needs_its_persons_step_up(people, actions):
    avail = people["avail"]
    with pytest.raises(InvalidInput) as refused:
        create_token(user=avail, created_by=avail, name="t", actions=actions, expires_at=soon())
    assert "step_up" in refused.value.fields
    assert TOKENS_PAGE in refused.value.message
    assert not ApiToken.objects.exists()


def test_an_acting_token_is_minted_only_by_its_own_person(people):
    avail, other = people["avail"], people["other"]
    for minter in (None, other):
        with pytest.raises(InvalidInput) as refused:
            create_token(
                user=avail,
                created_by=minter,
                name="t",
                actions=["decide"],
                expires_at=soon(),
                step_up=step_up(other, MINT_ACT, mint_target(other)),
            )
        assert "only avail can mint it" in refused.value.fields["user"]
    assert not ApiToken.objects.exists()


def test_the_step_up_must_be_the_persons_for_minting_and_recent(people):
    avail = people["avail"]
    wrong = {
        "another person": step_up(people["other"], MINT_ACT, mint_target(avail)),
        "another act": step_up(avail, "approve", mint_target(avail)),
        "another object": step_up(avail, MINT_ACT, "user:999999"),
    }
    for why, proof in wrong.items():
        with pytest.raises(InvalidInput) as refused:
            create_token(
                user=avail, created_by=avail, name="t", actions=["decide"], expires_at=soon(),
                step_up=proof,
            )  # fmt: skip
        assert "another person or act" in refused.value.fields["step_up"], why
    stale = step_up(avail, MINT_ACT, mint_target(avail))
    type(stale).objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    stale.refresh_from_db()
    with pytest.raises(InvalidInput) as refused:
        create_token(
            user=avail, created_by=avail, name="t", actions=["decide"], expires_at=soon(),
            step_up=stale,
        )  # fmt: skip
    assert "older than 5 minutes" in refused.value.fields["step_up"]
    assert not ApiToken.objects.exists()


def test_an_acting_token_lives_at_most_the_configured_time(people, settings):
    avail = people["avail"]

    def mint(expires_at):
        proof = step_up(avail, MINT_ACT, mint_target(avail))
        return create_token(
            user=avail, created_by=avail, name="t", actions=["execute"], expires_at=expires_at,
            step_up=proof,
        )  # fmt: skip

    with pytest.raises(InvalidInput) as refused:
        mint(None)
    assert "must expire, at most 12 h" in refused.value.fields["expires_at"]
    with pytest.raises(InvalidInput) as refused:
        mint(soon(12.5))
    assert "lives at most 12 h" in refused.value.fields["expires_at"]
    token, _ = mint(soon(12))
    assert token.stepped_up_at is not None and token.created_by == avail
    settings.TOKEN_MAX_HOURS = 2
    with pytest.raises(InvalidInput):
        mint(soon(3))
    event = AuditEvent.objects.get(action="token.created")
    assert event.data["acting"] is True and event.data["step_up"]["act"] == MINT_ACT


def test_a_token_that_cannot_act_needs_no_step_up_nor_expiry(people):
    token, _ = create_token(user=people["declarer"], name="reader", actions=["read", "declare"])
    assert token.expires_at is None and token.stepped_up_at is None


def test_a_service_account_gets_read_declare_and_audit_tokens_only(people):
    bot = machine()
    for actions in (["decide"], ["execute"], ["rollback"], ["read", "cancel"], ["configure"]):
        with pytest.raises(InvalidInput) as refused:
            create_token(user=bot, name="pager", actions=actions, expires_at=soon())
        assert "service account's token may only audit, declare, read" in refused.value.message
    token, _ = create_token(user=bot, name="pager")
    assert token.actions == ["declare", "read"]  # none named: read and declare
    token, _ = create_token(user=bot, name="auditor", actions=["audit", "read"])
    assert token.actions == ["audit", "read"]


# --- using: step-up freshness -------------------------------------------------------------


def test_a_stale_step_up_is_refused_then_renewed_over_the_api_then_the_act_succeeds(request_):
    avail = user("avail")
    avail.set_password(DEMO_PASSWORD)
    avail.save()
    token, plain = personal_token(avail, actions=["read", "decide"])
    ApiToken.objects.filter(pk=token.pk).update(
        stepped_up_at=timezone.now() - timedelta(minutes=61)
    )
    api = bearer(plain)
    refused = approve(api, request_, HTTP_IDEMPOTENCY_KEY="approve-1")
    assert refused.status_code == 403, refused.content
    error = refused.json()["error"]
    assert error["code"] == "step_up_stale"
    assert TOKENS_PAGE in error["message"] and STEP_UP_URL in error["message"]
    assert '{"password": "..."}' in error["message"]
    assert error["renew_url"] == TOKENS_PAGE
    assert error["step_up_url"].endswith(STEP_UP_URL)
    assert not Decision.objects.exists()

    wrong = api.post(STEP_UP_URL, {"password": "not it"}, format="json")
    assert wrong.status_code == 400 and "step_up" in wrong.json()["error"]["fields"]
    renewed = api.post(STEP_UP_URL, {"password": DEMO_PASSWORD}, format="json")
    assert renewed.status_code == 200, renewed.content
    assert renewed.json()["stepped_up_at"] is not None
    event = AuditEvent.objects.get(action="token.stepped_up")
    assert event.data["prefix"] == token.prefix and event.data["step_up"]["act"] == RENEW_ACT
    assert event.data["step_up"]["target"] == renew_target(token)

    # The same Idempotency-Key: tried anew, not answered with the refusal again.
    done = approve(api, request_, HTTP_IDEMPOTENCY_KEY="approve-1")
    assert done.status_code == 201, done.content
    assert Decision.objects.filter(actor=avail, kind="approve").count() == 1


def test_renewing_with_an_authenticator_code(request_):
    avail = user("avail")
    device = TOTPDevice.objects.create(user=avail, name="phone", confirmed=True)
    token, plain = personal_token(avail, actions=["decide"])
    ApiToken.objects.filter(pk=token.pk).update(stepped_up_at=None)
    api = bearer(plain)
    refused = approve(api, request_)
    assert refused.json()["error"]["code"] == "step_up_stale"
    assert '{"totp": "123456"}' in refused.json()["error"]["message"]
    code = f"{totp(device.bin_key, device.step, device.t0, device.digits):06d}"
    renewed = api.post(STEP_UP_URL, {"totp": code}, format="json")
    assert renewed.status_code == 200, renewed.content
    assert approve(api, request_).status_code == 201


def test_a_token_from_before_the_rules_is_refused_human_acts(request_):
    _, plain = old_token(user("avail"))
    refused = approve(bearer(plain), request_)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "step_up_stale"
    assert "never stepped up" in refused.json()["error"]["message"]
    assert not Decision.objects.exists()
    assert bearer(plain).get(f"/api/v1/failover-requests/{request_.pk}/").status_code == 200


def test_the_freshness_window_is_a_setting(request_, settings):
    token, plain = personal_token(user("avail"), actions=["decide"])
    ApiToken.objects.filter(pk=token.pk).update(
        stepped_up_at=timezone.now() - timedelta(minutes=20)
    )
    settings.TOKEN_STEP_UP_MAX_AGE_MINUTES = 15
    refused = approve(bearer(plain), request_)
    assert refused.json()["error"]["code"] == "step_up_stale"
    assert "last 15 minutes" in refused.json()["error"]["message"]
    settings.TOKEN_STEP_UP_MAX_AGE_MINUTES = 30
    assert approve(bearer(plain), request_).status_code == 201


def test_a_service_account_token_does_no_human_act(request_, service):
    from failover.services import grant_authority

    bot = machine()
    grant_authority(actor=user("chain-admin"), service=service, authority="declare", user=bot)
    # Held through a group (a direct grant is refused to a machine), never usable.
    bot.groups.add(Group.objects.get(name=f"{service.slug} approve_availability"))
    _, plain = create_token(user=bot, name="pager")
    replan = bearer(plain).post(
        f"/api/v1/failover-requests/{request_.pk}/replan/", {"reason": "r"}, format="json"
    )
    assert replan.status_code == 403
    assert replan.json()["error"]["code"] == "service_account"
    assert "person's act" in replan.json()["error"]["message"]
    # A token minted for it before the rule, with every action: held to read and declare.
    _, old = old_token(bot)
    refused = approve(bearer(old), request_)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "token_scope"
    renew = bearer(plain).post(STEP_UP_URL, {"password": "x"}, format="json")
    assert renew.status_code == 403 and renew.json()["error"]["code"] == "service_account"
    assert not Decision.objects.exists()


# --- what a token says of itself ------------------------------------------------------------


def test_the_current_token_says_how_long_it_lives(people):
    token, plain = personal_token(people["avail"], actions=["read", "decide"])
    response = bearer(plain).get("/api/v1/tokens/current/")
    assert response.status_code == 200
    body = response.json()
    assert body["prefix"] == token.prefix and body["acting"] is True
    assert body["actions"] == ["decide", "read"] and body["services"] == []
    assert body["expires_at"] is not None and body["stepped_up_at"] is not None
    assert body["step_up_valid_until"] is not None
    assert response["X-Token-Expires"] == token.expires_at.isoformat()


def test_every_token_answer_carries_its_expiry(request_):
    _, plain = create_token(user=user("declarer"), name="reader", actions=["read"])
    listed = bearer(plain).get("/api/v1/failover-requests/")
    assert listed.status_code == 200 and listed["X-Token-Expires"] == "never"
    refused = bearer(plain).post(f"/api/v1/failover-requests/{request_.pk}/cancel/", {})
    assert refused.status_code == 403 and refused["X-Token-Expires"] == "never"
    token, plain = personal_token(user("avail"), actions=["decide"])
    assert approve(bearer(plain), request_)["X-Token-Expires"] == token.expires_at.isoformat()
    session = APIClient()
    session.force_login(user("declarer"))
    answered = session.get("/api/v1/failover-requests/")
    assert answered.status_code == 200 and not answered.has_header("X-Token-Expires")
    assert session.get("/api/v1/tokens/current/").status_code == 404


def test_wrong_answers_lock_renewal(people):
    avail = people["avail"]
    avail.set_password(DEMO_PASSWORD)
    avail.save()
    _, plain = personal_token(avail, actions=["decide"])
    api = bearer(plain)
    for _ in range(4):
        assert api.post(STEP_UP_URL, {"password": "nope"}, format="json").status_code == 400
    locked = api.post(STEP_UP_URL, {"password": "nope"}, format="json")
    assert locked.status_code == 429 and locked.has_header("Retry-After")
    assert api.post(STEP_UP_URL, {"password": DEMO_PASSWORD}, format="json").status_code == 429
    assert api.post(STEP_UP_URL, {"pasword": "typo"}, format="json").status_code == 400


# --- rotating ---------------------------------------------------------------------------------


def test_rotating_keeps_the_scopes_and_revokes_the_old_secret(people, service):
    declarer = people["declarer"]
    token, old = create_token(
        user=declarer, name="ci", actions=["read", "declare"], services=[service],
        expires_at=soon(24),
    )  # fmt: skip
    new, plain = rotate_token(token=token, actor=None)
    token.refresh_from_db()
    assert token.revoked_at is not None and new.rotated_from == token
    assert new.actions == ["declare", "read"] and list(new.services.all()) == [service]
    assert new.expires_at > token.expires_at
    assert bearer(old).get("/api/v1/services/").status_code == 401
    assert bearer(plain).get("/api/v1/services/").status_code == 200
    assert AuditEvent.objects.filter(action="token.rotated", object_id=str(token.pk)).exists()


def test_rotating_an_acting_token_needs_its_persons_step_up(people):
    avail = people["avail"]
    token, _ = personal_token(avail, actions=["decide"])
    for actor in (None, avail):
        with pytest.raises(InvalidInput):
            rotate_token(token=token, actor=actor)
    token.refresh_from_db()
    assert token.revoked_at is None
    new, _ = rotate_token(
        token=token, actor=avail, step_up=step_up(avail, MINT_ACT, mint_target(avail))
    )
    assert new.expires_at <= timezone.now() + timedelta(hours=12)


def test_rotating_a_token_from_before_the_rules_makes_it_short_lived(people):
    avail = people["avail"]
    old, _ = old_token(avail)  # every action, no expiry
    new, _ = rotate_token(
        token=old, actor=avail, step_up=step_up(avail, MINT_ACT, mint_target(avail))
    )
    assert new.actions == [] and new.stepped_up_at is not None
    assert new.expires_at <= timezone.now() + timedelta(hours=12)
