"""The outbound guard: readiness fetches refuse loopback, private, link-local, multicast,
unspecified and reserved destinations unless OUTBOUND_ALLOW_NETWORKS allows them, check the
address actually connected to, follow no redirect, and keep the JWKS on the issuer's origin."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.readiness import checks as readiness
from approvals.readiness import selectors as readiness_selectors
from approvals.readiness import services as svc
from failover import outbound
from failover.services import declare_request
from tests.readiness import garbage
from tests.readiness.garbage import RawServer
from tests.readiness.servers import HOST, SECRETS, HTTPSServer, ca_file, leaf, point_target, serve


@pytest.fixture
def guarded(settings):
    """The production default: no network allowed beyond the public internet."""
    settings.OUTBOUND_ALLOW_NETWORKS = []
    return settings


@pytest.fixture
def bundle(ca, tmp_path):
    return ca_file(ca, tmp_path)


@pytest.mark.parametrize(
    "address,category",
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),  # ULA
        ("169.254.169.254", "link-local"),  # AWS, GCP, Azure metadata
        ("fd00:ec2::254", "private"),  # AWS metadata over IPv6
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
    ],
)
def test_refused_destinations(guarded, address, category):
    assert category in (outbound.refusal(address) or "")


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::6810:84e5"])
def test_public_destinations_pass(guarded, address):
    assert outbound.refusal(address) is None


def test_an_allowed_network_lets_exactly_its_addresses_through(guarded):
    guarded.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.1/32", "10.20.0.0/16"]
    assert outbound.refusal("127.0.0.1") is None
    assert outbound.refusal("::ffff:127.0.0.1") is None  # the same address, IPv4-mapped
    assert outbound.refusal("10.20.3.4") is None
    assert "loopback" in outbound.refusal("127.0.0.2")
    assert "private" in outbound.refusal("10.21.0.1")


def test_the_checkers_refuse_loopback_without_connecting(guarded, ca, bundle, tmp_path):
    """The demo's own targets, with the allowance off: no check reaches them."""
    with serve(ca, tmp_path) as server, RawServer(garbage.ok) as plain:
        tls = readiness.check_tls(address=server.address, hostnames=[HOST], ca_bundle=bundle)
        idp = readiness.check_identity_provider(issuer=server.url("/"), ca_bundle=bundle)
        health = readiness.check_health(url=plain.url("/healthz"))
        by_name = readiness.check_health(url=f"http://localhost:{plain.port}/healthz")
    for result in (tls, idp, health, by_name):
        assert not result.ok
        assert "loopback address (refused unless OUTBOUND_ALLOW_NETWORKS" in result.reason
    assert plain.connections == 0
    assert tls.details["hostnames"][0]["reason"].startswith("refused to connect to 127.0.0.1")
    assert "sha256" not in tls.details["hostnames"][0]  # no unverified second try either


def test_cloud_metadata_is_refused_before_any_packet(guarded):
    for result in (
        readiness.check_health(url="http://169.254.169.254/latest/meta-data/", timeout=30),
        readiness.check_identity_provider(issuer="https://169.254.169.254/", timeout=30),
        readiness.check_tls(address="[fd00:ec2::254]:443", hostnames=[HOST], timeout=30),
    ):
        assert not result.ok and "refused" in result.reason


def test_the_address_checked_is_the_address_connected_to(guarded, monkeypatch):
    """DNS rebinding: the name resolves to an allowed address when checked and to a refused
    one a moment later. There is no second lookup, so the refused one is never reached."""
    guarded.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.2/32"]
    with (
        RawServer(garbage.ok, host="127.0.0.2") as allowed,
        RawServer(garbage.ok, host="127.0.0.1") as internal,
    ):
        real = socket.getaddrinfo
        answers = iter([("127.0.0.2", allowed.port)])

        def rebinding(host, port, *args, **kwargs):
            if host != "rebind.example.test":
                return real(host, port, *args, **kwargs)
            ip, to = next(answers, ("127.0.0.1", internal.port))
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, to))]

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        result = readiness.check_health(url="http://rebind.example.test:8080/healthz", timeout=2)
        again = readiness.check_health(url="http://rebind.example.test:8080/healthz", timeout=2)
    assert result.ok, result.reason
    assert result.details["connected_to"] == "127.0.0.2"
    assert allowed.connections == 1 and internal.connections == 0
    assert b"Host: rebind.example.test:8080" in allowed.received[0]  # the name, not the IP
    assert not again.ok and "127.0.0.1 is a loopback address" in again.reason


def test_a_redirect_to_a_refused_address_is_not_followed(guarded):
    guarded.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.1/32"]
    with RawServer(garbage.ok, host="127.0.0.2") as inside:
        location = b"Location: " + inside.url("/secret").encode() + b"\r\n"
        with RawServer(garbage.http(302, b"", headers=location)) as redirecting:
            result = readiness.check_health(url=redirecting.url("/healthz"), timeout=2)
    assert not result.ok and result.details["status"] == 302
    assert inside.connections == 0


def oidc(ca, tmp_path, jwks_uri_for):
    server = HTTPSServer(*leaf(ca, "127.0.0.1", "localhost"), tmp=tmp_path)
    server.routes["/.well-known/openid-configuration"] = (
        200,
        {"issuer": server.url("/"), "jwks_uri": jwks_uri_for(server)},
    )
    server.routes["/jwks"] = (200, {"keys": [{"kid": "k1", "kty": "EC"}]})
    return server


def test_jwks_uri_must_share_the_issuers_origin_unless_allowed(ca, bundle, tmp_path):
    elsewhere = oidc(ca, tmp_path, lambda s: f"https://localhost:{s.port}/jwks")
    with elsewhere, RawServer(garbage.ok) as metadata_stand_in:
        refused = readiness.check_identity_provider(issuer=elsewhere.url("/"), ca_bundle=bundle)
        allowed = readiness.check_identity_provider(
            issuer=elsewhere.url("/"),
            ca_bundle=bundle,
            jwks_origins=[f"https://LOCALHOST:{elsewhere.port}"],
        )
        metadata = oidc(ca, tmp_path, lambda s: metadata_stand_in.url("/latest/meta-data"))
        with metadata:
            other = readiness.check_identity_provider(issuer=metadata.url("/"), ca_bundle=bundle)
    assert not refused.ok and "is not on the issuer's origin" in refused.reason
    assert "jwks_status" not in refused.details  # never fetched
    assert allowed.ok, allowed.reason
    assert not other.ok and metadata_stand_in.connections == 0


@pytest.mark.django_db
def test_a_refused_target_is_a_failed_check_on_the_request(
    guarded, service, people, ca, tmp_path, readiness_settings
):
    readiness_settings.OUTBOUND_ALLOW_NETWORKS = []
    readiness_settings.READINESS_SYSTEM_VETO = True
    with serve(ca, tmp_path) as server:
        target = point_target(service.targets.get(name="failover"), server)
        for name in SECRETS:
            svc.attest_secret(
                actor=people["identity"],
                target=target,
                secret_name=name,
                rotated_at=timezone.now() - timedelta(days=1),
            )
        request = declare_request(
            actor=people["declarer"], service=service, target="failover", reason="eu down"
        )
        rows = {row.kind: row for row in svc.run_readiness_checks(request_id=request.pk)}
        assert {k for k, r in rows.items() if not r.ok} == {"tls", "identity_provider", "health"}
        assert {v.kind for v in readiness_selectors.system_vetoes(request.pk)} == {
            "tls",
            "identity_provider",
        }
        assert all("refused" in rows[k].reason for k in ("tls", "identity_provider", "health"))

        readiness_settings.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.0/8"]  # as the demo runs
        svc.run_readiness_checks(request_id=request.pk)
        assert readiness_selectors.system_vetoes(request.pk) == []
