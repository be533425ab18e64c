"""Identity end to end (issue 17): the synthetic sign-in, the signing-key overlap and the
certificate fingerprint, against real local OIDC providers over TLS (tests/readiness/
oidc_provider.py), then stored as evidence on a request and run by `manage.py identity_check`.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
from datetime import timedelta

import pytest
import trustme
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from approvals.readiness import checks
from approvals.readiness import identity_drill as drill
from approvals.readiness import services as svc
from approvals.readiness.models import IdentityDrillClient, ReadinessCheck
from approvals.readiness.selectors import system_vetoes
from audit.models import AuditEvent
from failover.models import FailoverRequest
from failover.services import declare_request
from tests.readiness.flow import codes
from tests.readiness.oidc_provider import AUDIENCE, CLIENT_ID, HOST, Provider
from tests.readiness.servers import ca_file
from tests.secrets_registry import REGISTRY

# A fresh secret per run, known to the leak check (logs, error bodies, audit events).
SECRET = "drill-secret-" + secrets.token_urlsafe(18) + "/+&="  # characters that get encoded
REGISTRY.register(SECRET, "identity drill client secret")
BASIC = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()


def leaked(result) -> list[str]:
    """The forms of the secret found in a result (reason and details)."""
    text = result.reason + json.dumps(result.details, default=str)
    forms = [SECRET, *checks.identity_drill.secret_forms(SECRET, CLIENT_ID)]
    return [form for form in forms if form in text]


@pytest.fixture
def bundle(ca, tmp_path):
    return ca_file(ca, tmp_path)


@pytest.fixture
def idp(ca, tmp_path):
    with Provider(ca, tmp_path, client_secret=SECRET) as provider:
        yield provider


def sign_in(idp, bundle, **changes):
    arguments = dict(
        issuer=idp.issuer,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        audience=AUDIENCE,
        ca_bundle=bundle,
        timeout=3,
    )
    result = checks.check_sign_in(**{**arguments, **changes})
    assert result.kind == checks.SIGN_IN
    assert not leaked(result)
    return result


# --- (a) the synthetic sign-in --------------------------------------------------------------


def test_the_drill_client_signs_in_and_the_token_verifies_against_the_jwks(idp, bundle):
    result = sign_in(idp, bundle)
    assert result.ok, result.reason
    assert not result.identity_critical  # evidence: places no system veto on a real request
    details = result.details
    assert details["kid"] == "k1" and details["alg"] == "RS256"
    assert details["claims"]["iss"] == idp.issuer and details["claims"]["aud"] == AUDIENCE
    assert details["token_endpoint"] == idp.issuer + "/token"
    assert details["auth_method"] == "client_secret_basic"
    assert idp.token_requests == [{"grant_type": "client_credentials", "audience": AUDIENCE}]
    # The token is a credential too: not kept.
    assert "access_token" not in json.dumps(details) and "eyJ" not in json.dumps(details)


def test_a_provider_taking_only_client_secret_post_gets_the_secret_in_the_form(idp, bundle):
    idp.auth_methods = ["client_secret_post"]
    result = sign_in(idp, bundle, scope="drill")
    assert result.ok, result.reason
    assert result.details["auth_method"] == "client_secret_post"
    assert idp.token_requests[0]["scope"] == "drill"


def test_a_wrong_client_secret_fails_with_the_providers_refusal(idp, bundle):
    result = sign_in(idp, bundle, client_secret="not-the-secret-at-all")
    assert not result.ok
    assert "refused the drill client: HTTP 401: invalid_client" in result.reason


def test_a_secret_the_provider_echoes_back_never_reaches_the_evidence(idp, bundle):
    idp.client_secret = "the provider expects another secret"
    idp.echo_secret = True  # puts the presented secret and Authorization header in its error
    result = sign_in(idp, bundle)  # sign_in asserts that no form of the secret leaked
    assert not result.ok and "invalid_client" in result.reason
    assert "[redacted]" in result.reason


def test_a_token_signed_by_a_key_the_jwks_does_not_hold_fails(idp, bundle):
    idp.add_key("rogue")
    idp.signing = idp.header_kid = "rogue"
    result = sign_in(idp, bundle)
    assert not result.ok
    assert "signed with key 'rogue', which the target's JWKS does not hold" in result.reason


def test_a_token_naming_a_published_kid_but_signed_by_another_key_fails(idp, bundle):
    idp.add_key("rogue")
    idp.signing = "rogue"  # the header still says k1
    result = sign_in(idp, bundle)
    assert not result.ok
    assert "signature does not verify with key 'k1'" in result.reason


def test_a_token_from_another_issuer_fails(idp, bundle):
    idp.iss = "https://login.elsewhere.example.test/"
    result = sign_in(idp, bundle)
    assert not result.ok
    assert "names issuer 'https://login.elsewhere.example.test/'" in result.reason
    assert idp.issuer in result.reason


def test_a_token_for_another_audience_fails(idp, bundle):
    idp.aud = "https://api.other.example.test"
    result = sign_in(idp, bundle)
    assert not result.ok
    assert "audience 'https://api.other.example.test', expected" in result.reason


def test_an_expired_token_fails(idp, bundle):
    idp.lifetime = -3600
    result = sign_in(idp, bundle)
    assert not result.ok
    assert "expired" in result.reason


def test_a_token_signed_with_hmac_is_refused_before_any_verification(idp, bundle):
    idp.algorithm = "HS256"
    result = sign_in(idp, bundle)
    assert not result.ok
    assert "'HS256': only asymmetric algorithms" in result.reason


def test_an_opaque_token_cannot_be_verified_and_fails(idp, bundle):
    idp.opaque = True
    result = sign_in(idp, bundle)
    assert not result.ok
    assert "not a JWT" in result.reason


def test_a_token_endpoint_on_another_origin_is_never_sent_the_secret(idp, bundle):
    document = {**idp.discovery(), "token_endpoint": "https://127.0.0.2:9/token"}
    idp.answers[idp.path + "/.well-known/openid-configuration"] = (
        200,
        "application/json",
        json.dumps(document).encode(),
    )
    result = sign_in(idp, bundle)
    assert not result.ok
    assert "not on the issuer's origin" in result.reason
    assert not [hit for hit in idp.hits if hit[0] == "POST"]


def test_a_provider_whose_certificate_does_not_verify_fails(idp, tmp_path):
    result = sign_in(idp, ca_file(trustme.CA(), tmp_path))
    assert not result.ok
    assert "CERTIFICATE_VERIFY_FAILED" in result.reason or "verify" in result.reason


def test_missing_configuration_fails_with_what_is_missing(idp, bundle):
    result = sign_in(idp, bundle, client_secret="", audience="")
    assert not result.ok
    assert "no drill client secret, expected audience" in result.reason


HTML = (200, "text/html", b"<html><body><h1>Sign in</h1></body></html>")
HUGE = (200, "application/json", b"{" * 2_000_000)
NOT_JSON = (200, "application/json", b'{"issuer": "https://x", ')
ERROR_PAGE = (500, "text/html", b"<html>Internal Server Error</html>")


@pytest.mark.parametrize(
    ("route", "answer", "expected"),
    [
        ("/.well-known/openid-configuration", HTML, "did not return JSON"),
        ("/.well-known/openid-configuration", HUGE, "larger than"),
        ("/.well-known/openid-configuration", NOT_JSON, "did not return JSON"),
        ("/.well-known/openid-configuration", (200, "application/json", b"[]"), "not a JSON"),
        ("/.well-known/openid-configuration", ERROR_PAGE, "answered HTTP 500"),
        ("/jwks", HTML, "did not return JSON"),
        ("/jwks", HUGE, "larger than"),
        ("/jwks", NOT_JSON, "did not return JSON"),
        ("/jwks", (200, "application/json", b'{"keys": "none"}'), "holds no keys"),
        ("/token", HTML, "did not return JSON"),
        ("/token", HUGE, "larger than"),
        ("/token", NOT_JSON, "did not return JSON"),
        ("/token", (200, "application/json", b'{"token_type": "Bearer"}'), "no access_token"),
        ("/token", (200, "application/json", b'"a string"'), "not a JSON object"),
        ("/token", ERROR_PAGE, "HTTP 500: <html>Internal Server Error"),
        ("/token", (200, "application/json", b'{"access_token": "a.b.c"}'), "not a JWT"),
    ],
)
def test_garbage_from_the_provider_is_a_failed_result_with_evidence(
    idp, bundle, route, answer, expected
):
    idp.answers[idp.path + route] = answer
    result = sign_in(idp, bundle)
    assert not result.ok
    assert expected in result.reason, result.reason


def test_a_discovery_document_without_a_token_endpoint_fails(idp, bundle):
    document = {k: v for k, v in idp.discovery().items() if k != "token_endpoint"}
    idp.answers[idp.path + "/.well-known/openid-configuration"] = (
        200,
        "application/json",
        json.dumps(document).encode(),
    )
    result = sign_in(idp, bundle)
    assert not result.ok and "has no token_endpoint" in result.reason


# --- (b) signing-key overlap ----------------------------------------------------------------


@pytest.fixture
def two_idps(ca, tmp_path):
    """The current provider signs with k1 and k2; the target's starts with keys of its own."""
    with (
        Provider(ca, tmp_path, client_secret=SECRET, kids=("k1", "k2"), path="/current") as cur,
        Provider(ca, tmp_path, client_secret=SECRET, kids=("t1",), path="/target") as target,
    ):
        yield cur, target


def overlap(current, target, bundle, **changes):
    arguments = dict(
        current_issuer=current.issuer,
        target_issuer=target.issuer,
        current_ca_bundle=bundle,
        ca_bundle=bundle,
        timeout=3,
    )
    result = checks.check_key_overlap(**{**arguments, **changes})
    assert result.kind == checks.KEY_OVERLAP
    return result


def test_full_overlap_passes(two_idps, bundle):
    current, target = two_idps
    target.keys.update(current.keys)
    target.published = ["t1", "k1", "k2"]
    result = overlap(current, target, bundle)
    assert result.ok, result.reason
    assert result.details["overlap"] == "full"
    assert result.details["trusted_kids"] == ["k1", "k2"] and result.details["breaks"] == []


def test_partial_overlap_names_the_sessions_that_break(two_idps, bundle):
    current, target = two_idps
    target.keys["k1"] = current.keys["k1"]
    target.published = ["k1", "t1"]  # the target dropped k2
    result = overlap(current, target, bundle)
    assert not result.ok
    assert result.details["overlap"] == "partial"
    assert result.details["trusted_kids"] == ["k1"] and result.details["untrusted_kids"] == ["k2"]
    assert result.details["breaks"] == ["sessions whose tokens are signed with key 'k2'"]
    assert "trusts 1 of the current provider's 2" in result.reason
    assert "sessions whose tokens are signed with key 'k2'" in result.reason


def test_no_overlap_breaks_every_session(two_idps, bundle):
    current, target = two_idps
    result = overlap(current, target, bundle)
    assert not result.ok
    assert result.details["overlap"] == "none"
    assert "every session breaks" in result.reason
    assert result.details["untrusted_kids"] == ["k1", "k2"]


def test_a_reused_kid_with_other_key_material_is_not_trusted(two_idps, bundle):
    current, target = two_idps
    target.keys.update(k1=target.keys["t1"], k2=current.keys["k2"])  # k1: another key
    target.published = ["k1", "k2"]
    result = overlap(current, target, bundle)
    assert not result.ok and result.details["untrusted_kids"] == ["k1"]
    why = {e["kid"]: e["why"] for e in result.details["keys"]}
    assert why["k1"] == "the target holds another key under this kid"


def test_the_same_key_under_another_kid_is_not_trusted(two_idps, bundle):
    current, target = two_idps
    target.keys.update(r1=current.keys["k1"], k2=current.keys["k2"])
    target.published = ["r1", "k2"]
    result = overlap(current, target, bundle)
    assert not result.ok and result.details["untrusted_kids"] == ["k1"]
    assert "under another kid" in {e["kid"]: e["why"] for e in result.details["keys"]}["k1"]


def test_one_provider_for_both_targets_overlaps_fully(two_idps, bundle):
    current, _ = two_idps
    result = overlap(current, current, bundle)
    assert result.ok and result.details["same_provider"] is True


def test_a_current_target_without_an_issuer_fails(two_idps, bundle):
    current, target = two_idps
    result = overlap(current, target, bundle, current_issuer="")
    assert not result.ok and "current target names no OIDC issuer" in result.reason


@pytest.mark.parametrize("answer", [HTML, HUGE, NOT_JSON])
def test_garbage_from_either_provider_fails_the_overlap(two_idps, bundle, answer):
    current, target = two_idps
    for provider, whose in ((current, "current"), (target, "target")):
        provider.answers[provider.path + "/jwks"] = answer
        result = overlap(current, target, bundle)
        assert not result.ok and result.reason.startswith(f"the {whose} provider's keys: ")
        provider.answers.clear()


# --- (c) the served certificate's fingerprint -----------------------------------------------


def fingerprint(idp, expected, hostnames=(HOST,)):
    result = checks.check_certificate_fingerprint(
        address=idp.address, hostnames=list(hostnames), expected_sha256=expected, timeout=3
    )
    assert result.kind == checks.CERT_FINGERPRINT
    return result


def test_the_served_certificate_matches_its_fingerprint(idp):
    result = fingerprint(idp, idp.fingerprint)
    assert result.ok, result.reason
    assert result.details["hostnames"][0]["sha256"] == idp.fingerprint
    # As people copy it: upper case with colons; and a list during a rotation.
    colons = ":".join(idp.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    assert fingerprint(idp, colons).ok
    assert fingerprint(idp, f"{'ab' * 32}, {idp.fingerprint}").ok


def test_another_certificate_fails_with_what_was_served(idp):
    result = fingerprint(idp, "ab" * 32)
    assert not result.ok
    assert f"served certificate {idp.fingerprint} is not the expected one" in result.reason
    assert result.details["hostnames"][0]["subject"]


@pytest.mark.parametrize(
    ("expected", "reason"),
    [("", "no expected certificate fingerprint"), ("not-a-hash", "not a SHA-256 fingerprint")],
)
def test_a_missing_or_malformed_fingerprint_fails(idp, expected, reason):
    result = fingerprint(idp, expected)
    assert not result.ok and reason in result.reason


def test_nothing_listening_is_a_failed_result(idp):
    result = checks.check_certificate_fingerprint(
        address="127.0.0.1:9", hostnames=[HOST], expected_sha256="ab" * 32, timeout=2
    )
    assert not result.ok and "TLS connection to 127.0.0.1:9 failed" in result.reason


# --- stored as evidence on a request, and on demand -----------------------------------------


@pytest.fixture
def targets_at(db, service, two_idps, ca, tmp_path, settings):
    """The service's primary on the current provider, its failover target on the target's
    provider (serving its certificate), with a drill client configured."""
    current, target = two_idps
    settings.READINESS_CA_BUNDLES = {"EU CA": ca_file(ca, tmp_path), "US CA": ca_file(ca, tmp_path)}
    settings.READINESS_TIMEOUT = 3
    primary = service.targets.get(name="primary")
    primary.oidc_issuer = current.issuer
    primary.save()
    failover = service.targets.get(name="failover")
    failover.oidc_issuer = target.issuer
    failover.address = target.address
    failover.certificate_hostnames = [HOST]
    failover.save()
    client = IdentityDrillClient(
        target=failover,
        client_id=CLIENT_ID,
        audience=AUDIENCE,
        expected_certificate_sha256=target.fingerprint,
    )
    client.set_client_secret(SECRET)
    client.full_clean()
    client.save()
    return current, target, client


def all_text(rows) -> str:
    events = AuditEvent.objects.filter(action="readiness.checked").values_list("data", flat=True)
    return json.dumps(
        [[r.reason, r.details] for r in rows] + list(events), default=str, ensure_ascii=False
    )


def test_the_checks_are_stored_as_evidence_on_the_request_and_place_no_veto(
    targets_at, service, people, settings
):
    current, target, _ = targets_at
    target.keys["k1"] = current.keys["k1"]
    target.published = ["t1", "k1"]  # k2 is not trusted: that check fails
    settings.READINESS_SYSTEM_VETO = True
    request = declare_request(
        actor=people["declarer"], service=service, target="failover", reason="drill"
    )
    before = codes(request)
    rows = drill.run_identity_checks(request_id=request.pk, actor=people["declarer"])
    by_kind = {row.kind: row for row in rows}
    assert set(by_kind) == set(checks.DRILL_KINDS)
    assert by_kind["identity_sign_in"].ok, by_kind["identity_sign_in"].reason
    assert by_kind["cert_fingerprint"].ok, by_kind["cert_fingerprint"].reason
    overlap_row = by_kind["signing_key_overlap"]
    assert not overlap_row.ok and overlap_row.details["untrusted_kids"] == ["k2"]
    assert not any(row.identity_critical for row in rows)
    assert system_vetoes(request.pk) == []
    assert codes(request) == before  # the gate decides as it did
    assert AuditEvent.objects.filter(action="readiness.checked").count() == 3
    assert SECRET not in all_text(rows)
    assert (
        ReadinessCheck.objects.get(pk=overlap_row.pk)
        .get_kind_display()
        .startswith("Identity drill")
    )


def test_the_sweeper_still_asks_for_readiness_when_only_drill_evidence_is_stored(
    targets_at, service, people, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr("failover.dispatch.send_now", lambda task, *a, **kw: sent.append(a))
    request = declare_request(
        actor=people["declarer"], service=service, target="failover", reason="drill"
    )
    drill.run_identity_checks(request_id=request.pk)
    FailoverRequest.objects.filter(pk=request.pk).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert svc.resend_missing_checks() == 1
    # Past the deadline the readiness run is recorded as never reported: drill rows are no
    # excuse for the gate to wait forever.
    kinds = set(ReadinessCheck.objects.filter(request=request).values_list("kind", flat=True))
    assert set(checks.KINDS) <= kinds


def test_without_a_drill_client_the_checks_say_what_to_configure(targets_at, service, people):
    _, _, client = targets_at
    client.delete()
    request = declare_request(
        actor=people["declarer"], service=service, target="failover", reason="drill"
    )
    rows = {r.kind: r for r in drill.run_identity_checks(request_id=request.pk)}
    assert "no drill client is configured for" in rows["identity_sign_in"].reason
    assert "no expected certificate fingerprint" in rows["cert_fingerprint"].reason


def test_a_secret_that_cannot_be_decrypted_fails_the_sign_in_only(targets_at):
    _, _, client = targets_at
    IdentityDrillClient.objects.filter(pk=client.pk).update(client_secret_encrypted="gAAAA-bad")
    answer = drill.check_identity_on_demand(service_slug="shop", target_name="failover")
    result = {r.kind: r for r in answer.results}["identity_sign_in"]
    assert not result.ok and "cannot be decrypted" in result.reason


def test_the_secret_is_stored_encrypted(targets_at):
    _, _, client = targets_at
    stored = IdentityDrillClient.objects.get(pk=client.pk)
    assert SECRET not in stored.client_secret_encrypted
    assert stored.client_secret() == SECRET


def test_a_malformed_expected_fingerprint_is_refused_with_the_field(targets_at):
    _, _, client = targets_at
    client.expected_certificate_sha256 = "sha256:nope"
    with pytest.raises(ValidationError) as caught:
        client.full_clean()
    assert "expected_certificate_sha256" in caught.value.message_dict


def run_command(*args) -> tuple[str, int | None]:
    out = io.StringIO()
    try:
        call_command("identity_check", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue() + str(exc), exc.returncode
    return out.getvalue(), None


def test_the_command_prints_the_results_and_exits_1_when_one_failed(targets_at, caplog):
    current, target, _ = targets_at
    caplog.set_level("INFO")
    output, code = run_command("shop", "failover")
    assert code == 1
    assert "FAILED  signing_key_overlap" in output
    assert "breaks: sessions whose tokens are signed with key 'k1'" in output
    assert "ok      identity_sign_in" in output and "ok      cert_fingerprint" in output

    target.keys.update(current.keys)
    target.published = ["t1", "k1", "k2"]  # t1 signs the drill's token
    output, code = run_command("shop", "failover", "--json")
    assert code is None, output
    assert [row["ok"] for row in json.loads(output)] == [True, True, True]
    assert SECRET not in output and SECRET not in caplog.text


def test_the_command_stores_on_a_request_and_refuses_bad_input(targets_at, service, people):
    request = declare_request(
        actor=people["declarer"], service=service, target="failover", reason="drill"
    )
    output, _ = run_command("--request", str(request.pk))
    assert f"request #{request.pk} (stored as evidence)" in output
    assert ReadinessCheck.objects.filter(request=request).count() == 3
    assert run_command("nope", "failover") == ("no service 'nope'", 2)
    output, code = run_command("shop", "mars")
    assert "has no target 'mars'" in output and code == 2
    output, code = run_command("shop", "failover", "--request", "1")
    assert "not both" in output and code == 2
    output, code = run_command("--request", "999999")
    assert "no failover request #999999" in output and code == 2


# --- the admin: the secret is write-only ----------------------------------------------------


def test_the_admin_stores_the_secret_encrypted_and_never_shows_or_audits_it(admin_client, service):
    target = service.targets.get(name="failover")
    fields = {"target": target.pk, "client_id": CLIENT_ID, "audience": AUDIENCE, "scope": ""}
    add = reverse("admin:readiness_identitydrillclient_add")
    page = admin_client.post(add, {**fields, "expected_certificate_sha256": "AB:" * 31 + "AB"})
    assert page.status_code == 200 and "set one" in page.content.decode()  # no secret yet
    page = admin_client.post(add, {**fields, "expected_certificate_sha256": "nope"})
    assert page.status_code == 200 and "not a SHA-256 fingerprint" in page.content.decode()
    page = admin_client.post(
        add,
        {**fields, "new_client_secret": SECRET, "expected_certificate_sha256": "AB:" * 31 + "AB"},
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    client = IdentityDrillClient.objects.get(target=target)
    assert client.client_secret() == SECRET and SECRET not in client.client_secret_encrypted
    assert client.expected_certificate_sha256 == "ab" * 32
    change = reverse("admin:readiness_identitydrillclient_change", args=[client.pk])
    html = admin_client.get(change).content.decode()
    assert SECRET not in html and client.client_secret_encrypted not in html and "set" in html
    listing = admin_client.get(
        reverse("admin:readiness_identitydrillclient_changelist"), {"q": "failover"}
    )
    assert listing.status_code == 200 and CLIENT_ID in listing.content.decode()
    # Left empty, the secret is kept; the audit says which fields changed, never the secret.
    page = admin_client.post(change, {**fields, "audience": "https://api.other.example.test"})
    assert page.status_code == 302, page.content.decode()[:2000]
    assert IdentityDrillClient.objects.get(pk=client.pk).client_secret() == SECRET
    events = AuditEvent.objects.filter(object_type="readiness.identitydrillclient")
    assert [e.action for e in events.order_by("seq")] == ["config.created", "config.changed"]
    assert events.order_by("seq").first().data["fields"]["new_client_secret"] == "replaced"
    assert SECRET not in json.dumps(list(events.values_list("data", flat=True)))
