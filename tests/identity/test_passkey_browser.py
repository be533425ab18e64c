"""Passkeys in Chromium, with its virtual authenticator (DevTools WebAuthn domain): enrol on
the security page, approve with the passkey, and the stored assertion proves the approval was
for this plan by this person's key. Also the dual-approval drill, passkey against password:
clicks and seconds per approval, printed (run with -s to read them)."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from approvals.models import Decision
from failover.models import FailoverRequest, Service
from failover.services import cancel_request, declare_request
from identity.models import Passkey, StepUpProof
from identity.proofs import check_proof
from tests.harness.browser import DESKTOP, PASSWORD, Person, poll_with_old_actions
from tests.identity.webauthn import credentials, virtual_authenticator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(db):
    from failover.demo.seed import seed_demo

    seed_demo()


@pytest.fixture
def site(demo, live_server, settings):
    # Chromium refuses an IP address as relying party: the live server is reached as localhost.
    settings.WEBAUTHN_RP_ID = "localhost"
    settings.WEBAUTHN_ORIGINS = [live_server.url]
    return live_server.url


@pytest.fixture
def people(browser, site):
    opened: list[Person] = []

    def open_people(*names):
        for name in names:
            opened.append(Person(browser, site, name, DESKTOP).sign_in())
        return opened[-len(names) :]

    yield open_people
    for person in opened:
        person.close()


def person(username: str):
    return get_user_model().objects.get(username=username)


def declare(reason: str = "eu-west-1 load balancers failing") -> FailoverRequest:
    return declare_request(
        actor=person("ic"),
        service=Service.objects.get(slug="checkout"),
        target="failover",
        reason=reason,
    )


def enrol(who: Person, name: str) -> tuple[object, str]:
    """Add a passkey on the security page, confirming with the password (they have one)."""
    cdp, authenticator = virtual_authenticator(who.page)
    who.page.goto("/account/security/")
    form = who.page.locator("form[data-passkey-create]")
    form.get_by_label("Name it").fill(name)
    form.get_by_label("Your password").fill(PASSWORD)
    who.click(form.get_by_role("button", name="Add a passkey"))
    expect(who.page.locator(".message.success")).to_contain_text(f"Passkey “{name}” added")
    expect(who.page.locator("[data-passkey]")).to_contain_text(name)
    assert len(credentials(cdp, authenticator)) == 1
    return cdp, authenticator


def open_action(who: Person, name: str) -> None:
    who.click(who.page.locator("summary", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")))


def approve(who: Person, role: str, *, password: bool) -> float:
    """Open the approval and confirm it; seconds from opening to the success message."""
    started = time.perf_counter()
    open_action(who, f"Approve as {role}")
    form = who.page.locator("details.action[open] form")
    if password:
        form.get_by_label("Your password").fill(PASSWORD)
    who.click(form.get_by_role("button", name="Confirm approval"))
    expect(who.page.locator(".message.success")).to_contain_text(f"You approved as {role}")
    return time.perf_counter() - started


def test_enrol_then_approve_with_the_passkey_and_prove_it(people, client):
    (avail,) = people("avail")
    enrol(avail, "work laptop")
    passkey = Passkey.objects.get(user__username="avail")
    assert passkey.name == "work laptop"
    request = declare()
    avail.page.goto(f"/requests/{request.pk}/")
    open_action(avail, "Approve as availability")
    form = avail.page.locator("details.action[open] form")
    expect(form.locator("[data-step-up-passkey]")).to_contain_text("Confirm with your passkey")
    with avail.page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith(f"/requests/{request.pk}/")
    ) as posted:
        avail.click(form.get_by_role("button", name="Confirm approval"))
    expect(avail.page.locator(".message.success")).to_contain_text("You approved as availability")
    decision = Decision.objects.get(request=request)
    proof = decision.step_up
    assert proof.method == "passkey" and proof.passkey_id == passkey.pk
    assert (proof.act, proof.target, proof.plan_hash) == (
        "approve",
        f"request:{request.pk}",
        request.plan_hash,
    )
    ok, reason = check_proof(proof)
    assert ok, reason
    assert avail.console_errors == []

    # The captured answer replayed onto another request's form: refused, nothing changed.
    fields = {k: v[0] for k, v in parse_qs(posted.value.post_data).items()}
    assert json.loads(fields["passkey"])["id"] == passkey.credential_id
    cancel_request(actor=person("ic"), request_id=request.pk, reason="drill over")
    other = declare("again")
    client.force_login(person("avail"))
    replay = {
        "kind": "approve",
        "role": "availability",
        "plan_hash": other.plan_hash,
        "challenge": fields["challenge"],
        "passkey": fields["passkey"],
    }
    refused = client.post(f"/requests/{other.pk}/", replay)
    assert refused.status_code == 400 and "another act or plan" in refused.content.decode()
    assert not Decision.objects.filter(request=other).exists()
    assert StepUpProof.objects.filter(method="passkey").count() == 1

    # Removed, the passkey no longer confirms: the form no longer offers it.
    avail.page.goto("/account/security/")
    open_action(avail, "Remove work laptop")
    avail.click(avail.page.get_by_role("button", name="Remove passkey"))
    expect(avail.page.locator(".message.success")).to_contain_text("no longer confirms")
    assert not Passkey.objects.exists()
    avail.page.goto(f"/requests/{other.pk}/")
    open_action(avail, "Approve as availability")
    form = avail.page.locator("details.action[open] form")
    expect(form.locator("[data-step-up-passkey]")).to_have_count(0)
    expect(form.get_by_label("Your password")).to_be_visible()
    assert check_proof(StepUpProof.objects.get(pk=proof.pk))[0]  # the key is in the audit log


# The authenticator's answer held until the test lets it go, as a person slow to touch it.
HELD_AUTHENTICATOR = """
  const get = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = (options) => new Promise((resolve, reject) => {
    window.answerPasskey = () => get(options).then(resolve, reject);
  });
"""


def test_a_passkey_answer_given_while_a_poll_replaced_the_form_still_confirms(people):
    """A poll can replace the open approval while the authenticator is asked (seconds, for a
    person): the answer goes into the form now on the page, which is sent."""
    (avail,) = people("avail")
    enrol(avail, "work laptop")
    request = declare()
    avail.page.add_init_script(HELD_AUTHENTICATOR)
    avail.page.goto(f"/requests/{request.pk}/")
    open_action(avail, "Approve as availability")
    form = avail.page.locator("details.action[open] form")
    avail.click(form.get_by_role("button", name="Confirm approval"))
    avail.page.wait_for_function("() => window.answerPasskey !== undefined")
    poll_with_old_actions(avail)
    avail.page.evaluate("() => window.answerPasskey()")
    expect(avail.page.locator(".message.success")).to_contain_text("You approved as availability")
    assert Decision.objects.get(request=request).step_up.method == "passkey"
    assert avail.console_errors == []


def test_someone_without_a_way_to_confirm_sees_how_to_enrol(people, settings):
    settings.STEP_UP_METHODS = ["passkey", "totp", "recovery"]  # passwords do not confirm here
    (avail,) = people("avail")
    request = declare()
    avail.page.goto(f"/requests/{request.pk}/")
    open_action(avail, "Approve as availability")
    form = avail.page.locator("details.action[open] form")
    expect(form.locator("[data-step-up-none]")).to_contain_text("no way to confirm it is you")
    avail.click(form.get_by_role("link", name="Add a passkey on your security page"))
    avail.page.wait_for_url(re.compile(r"/account/security/$"))
    expect(avail.page.locator("[data-no-step-up]")).to_be_visible()
    # The first passkey needs only the recent sign-in.
    virtual_authenticator(avail.page)
    avail.page.get_by_label("Name it").fill("phone")
    avail.click(avail.page.get_by_role("button", name="Add a passkey"))
    expect(avail.page.locator(".message.success")).to_contain_text("Passkey “phone” added")
    assert Passkey.objects.filter(user__username="avail").count() == 1


def test_dual_approval_drill_passkey_against_password(people):
    """avail and identity approve a checkout request: typing the password, then with a
    passkey. Prints clicks and seconds per approval."""
    avail, identity = people("avail", "identity")
    figures = {}
    for mode in ("password", "passkey"):
        if mode == "passkey":
            enrol(avail, "laptop")
            enrol(identity, "laptop")
        request = declare(f"drill with {mode}")
        seconds, clicks = [], []
        for who, role in ((avail, "availability"), (identity, "identity")):
            who.page.goto(f"/requests/{request.pk}/")
            before = who.clicks
            seconds.append(approve(who, role, password=mode == "password"))
            clicks.append(who.clicks - before)
        proofs = [d.step_up for d in Decision.objects.filter(request=request)]
        assert [p.method for p in proofs] == [mode, mode]
        if mode == "passkey":
            assert all(check_proof(p)[0] for p in proofs)
        figures[mode] = (clicks, seconds)
        cancel_request(actor=person("ic"), request_id=request.pk, reason="drill over")
    print("\ndual-approval drill (per approval: clicks, seconds; fields typed excluded)")  # noqa: T201
    for mode, (clicks, seconds) in figures.items():
        typed = "password typed" if mode == "password" else "nothing typed"
        print(  # noqa: T201
            f"  {mode:8}: avail {clicks[0]} clicks {seconds[0]:.2f} s, identity {clicks[1]} "
            f"clicks {seconds[1]:.2f} s ({typed})"
        )
    assert figures["passkey"][0] == figures["password"][0]  # same clicks, no typing


def test_a_token_step_up_is_renewed_with_the_passkey_on_the_tokens_page(people):
    """The tokens page renders its own step-up fields: stepup.js adds the passkey button."""
    from approvals.tokens import RENEW_ACT
    from tests.tokens import personal_token

    (avail,) = people("avail")
    enrol(avail, "laptop")
    token, _ = personal_token(person("avail"), name="cli")
    avail.page.goto("/account/tokens/")
    # The tokens page is another helper's: find the renewal form by where it posts.
    form = avail.page.locator(f"form[action$='/tokens/{token.prefix}/step-up/']")
    details = avail.page.locator("details", has=form)
    if details.count():
        avail.click(details.first.locator("summary").first)
    avail.click(form.get_by_role("button", name="Confirm with your passkey"))
    avail.page.wait_for_load_state()
    expect(avail.page.locator(".message.success")).to_be_visible()
    proof = StepUpProof.objects.get(act=RENEW_ACT)
    assert proof.method == "passkey" and proof.target == f"token:{token.prefix}"
    assert check_proof(proof)[0]
    assert avail.console_errors == []
