"""The pure checkers against real local HTTPS servers (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trustme

from approvals.readiness import checks as readiness
from approvals.readiness.checks.base import split_address
from tests.readiness.servers import HOST, HTTPSServer, ca_file, expired_leaf, leaf


@pytest.fixture
def bundle(ca, tmp_path):
    return ca_file(ca, tmp_path)


def tls(server, bundle, hostnames=(HOST,), **kwargs):
    return readiness.check_tls(
        address=server.address, hostnames=list(hostnames), ca_bundle=bundle, timeout=3, **kwargs
    )


def test_valid_chain_passes_and_records_the_certificate(ca, bundle, tmp_path):
    with HTTPSServer(*leaf(ca, HOST, "www.example.test"), tmp=tmp_path) as server:
        result = tls(server, bundle, hostnames=(HOST, "www.example.test"))
    assert result.ok, result.reason
    assert result.identity_critical
    entries = result.details["hostnames"]
    assert [e["hostname"] for e in entries] == [HOST, "www.example.test"]
    for entry in entries:
        assert entry["ok"]
        assert len(entry["sha256"]) == 64
        assert "trustme" in entry["issuer"].lower()
        assert datetime.fromisoformat(entry["not_after"]) > datetime.now(UTC)
        assert entry["subject"]


def test_expired_certificate_fails(ca, bundle, tmp_path):
    with HTTPSServer(*expired_leaf(ca, HOST), tmp=tmp_path) as server:
        result = tls(server, bundle)
    assert not result.ok
    assert "expired" in result.reason
    entry = result.details["hostnames"][0]
    # Evidence of what was served, although it did not verify.
    assert datetime.fromisoformat(entry["not_after"]) < datetime.now(UTC)
    assert len(entry["sha256"]) == 64


def test_certificate_expiring_within_minimum_days_fails(ca, bundle, tmp_path):
    with HTTPSServer(*expired_leaf(ca, HOST, expires_in_days=5), tmp=tmp_path) as server:
        soon = tls(server, bundle, min_days=14)
        enough = tls(server, bundle, min_days=3)
    assert not soon.ok
    assert "within 14 days" in soon.reason
    assert enough.ok, enough.reason


def test_wrong_hostname_fails(ca, bundle, tmp_path):
    with HTTPSServer(*leaf(ca, "other.example.test"), tmp=tmp_path) as server:
        result = tls(server, bundle)
    assert not result.ok
    assert "hostname" in result.reason.lower() or "match" in result.reason.lower()
    assert result.details["hostnames"][0]["subject"]


def test_one_bad_hostname_of_several_fails_the_check(ca, bundle, tmp_path):
    with HTTPSServer(*leaf(ca, HOST), tmp=tmp_path) as server:
        result = tls(server, bundle, hostnames=(HOST, "missing.example.test"))
    assert not result.ok
    assert [e["ok"] for e in result.details["hostnames"]] == [True, False]
    assert "missing.example.test" in result.reason


def test_untrusted_ca_fails(bundle, tmp_path):
    stranger = trustme.CA()
    with HTTPSServer(*leaf(stranger, HOST), tmp=tmp_path) as server:
        result = tls(server, bundle)
    assert not result.ok
    assert "verif" in result.reason.lower()


def test_system_store_does_not_trust_a_private_ca(ca, tmp_path):
    with HTTPSServer(*leaf(ca, HOST), tmp=tmp_path) as server:
        result = tls(server, None)
    assert not result.ok


def test_unreachable_address_and_missing_hostnames_fail():
    result = readiness.check_tls(address="127.0.0.1:1", hostnames=[HOST], timeout=1)
    assert not result.ok
    assert not readiness.check_tls(address="127.0.0.1:1", hostnames=[]).ok


@pytest.mark.parametrize(
    "address,expected",
    [
        ("example.test", ("example.test", 443)),
        ("example.test:8443", ("example.test", 8443)),
        ("198.51.100.1", ("198.51.100.1", 443)),
        ("[2001:db8::1]:444", ("2001:db8::1", 444)),
        ("2001:db8::1", ("2001:db8::1", 443)),
    ],
)
def test_split_address(address, expected):
    assert split_address(address) == expected


ONE_KEY = ({"kid": "k1", "kty": "EC"},)


def oidc_server(ca, tmp_path, *, issuer=None, keys=ONE_KEY):
    server = HTTPSServer(*leaf(ca, "127.0.0.1", "localhost"), tmp=tmp_path)
    expected = server.url("/")
    server.routes["/.well-known/openid-configuration"] = (
        200,
        {"issuer": issuer or expected, "jwks_uri": server.url("/jwks")},
    )
    server.routes["/jwks"] = (200, {"keys": list(keys)})
    return server, expected


def test_identity_provider_passes(ca, bundle, tmp_path):
    server, issuer = oidc_server(ca, tmp_path)
    with server:
        result = readiness.check_identity_provider(issuer=issuer, ca_bundle=bundle, timeout=3)
    assert result.ok, result.reason
    assert result.identity_critical
    assert result.details["jwks_keys"] == 1


def test_identity_provider_with_mismatching_issuer_fails(ca, bundle, tmp_path):
    server, issuer = oidc_server(ca, tmp_path, issuer="https://evil.example.test/")
    with server:
        result = readiness.check_identity_provider(issuer=issuer, ca_bundle=bundle, timeout=3)
    assert not result.ok
    assert "issuer" in result.reason
    assert result.details["discovered_issuer"] == "https://evil.example.test/"


def test_issuer_must_match_exactly_trailing_slash_included(ca, bundle, tmp_path):
    server, issuer = oidc_server(ca, tmp_path)
    with server:
        result = readiness.check_identity_provider(
            issuer=issuer.rstrip("/"), ca_bundle=bundle, timeout=3
        )
    assert not result.ok


def test_identity_provider_with_empty_jwks_fails(ca, bundle, tmp_path):
    server, issuer = oidc_server(ca, tmp_path, keys=())
    with server:
        result = readiness.check_identity_provider(issuer=issuer, ca_bundle=bundle, timeout=3)
    assert not result.ok
    assert "no keys" in result.reason


def test_identity_provider_over_untrusted_tls_fails(bundle, tmp_path):
    server, issuer = oidc_server(trustme.CA(), tmp_path)
    with server:
        result = readiness.check_identity_provider(issuer=issuer, ca_bundle=bundle, timeout=3)
    assert not result.ok


def test_identity_provider_refuses_plain_http():
    result = readiness.check_identity_provider(issuer="http://127.0.0.1:1/", timeout=1)
    assert not result.ok
    assert "https" in result.reason


def test_health(ca, bundle, tmp_path):
    with HTTPSServer(*leaf(ca, "127.0.0.1"), {"/healthz": (200, {})}, tmp=tmp_path) as srv:
        good = readiness.check_health(url=srv.url("/healthz"), ca_bundle=bundle, timeout=3)
        srv.routes["/healthz"] = (503, {})
        bad = readiness.check_health(url=srv.url("/healthz"), ca_bundle=bundle, timeout=3)
    assert good.ok and not good.identity_critical
    assert not bad.ok and bad.details["status"] == 503


def test_secrets():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    fresh = readiness.check_secrets(
        required=["a", "b"],
        rotated_at={"a": now - timedelta(days=10), "b": now - timedelta(days=90)},
        now=now,
    )
    assert fresh.ok and fresh.identity_critical
    stale = readiness.check_secrets(
        required=["a", "b"], rotated_at={"a": now - timedelta(days=91)}, now=now
    )
    assert not stale.ok
    assert [e["ok"] for e in stale.details["secrets"]] == [False, False]
