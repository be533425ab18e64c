"""Garbage answers never block a failover: each check fails alone, with evidence, and a check
that never reports becomes a visible failed result (DESIGN invariant 17)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.execution import execute_request
from approvals.readiness import checks as readiness
from approvals.readiness import selectors as readiness_selectors
from approvals.readiness import services as svc
from approvals.readiness.models import ReadinessCheck
from approvals.readiness.tasks import run_readiness, sweep
from approvals.selectors import verdict_for
from audit.models import AuditEvent
from failover.models import FailoverRequest, Target
from tests.readiness import garbage
from tests.readiness.flow import approve_all, codes, declare_at
from tests.readiness.garbage import RawServer
from tests.readiness.servers import HOST, ca_file, leaf, serve


@pytest.fixture
def bundle(ca, tmp_path):
    return ca_file(ca, tmp_path)


# --- each checker meets garbage and answers a failed result with evidence ------------------


def test_health_url_answering_a_non_http_banner_fails_with_what_was_read():
    with RawServer(garbage.banner) as server:
        result = readiness.check_health(url=server.url("/healthz"), timeout=2)
    assert not result.ok
    assert "BadStatusLine" in result.reason and "SSH-2.0-OpenSSH_9.6" in result.reason
    assert result.details["exception"] == "BadStatusLine"
    assert result.details["read"].startswith("SSH-2.0-OpenSSH_9.6\\x00 garbage")  # escaped NUL


def test_health_url_closing_the_connection_fails():
    with RawServer(garbage.close_at_once) as server:
        result = readiness.check_health(url=server.url("/healthz"), timeout=2)
    assert not result.ok  # closed before or after the request was sent: either is evidence
    assert result.details["exception"] in ("RemoteDisconnected", "ConnectionResetError")


@pytest.mark.parametrize("answer", [garbage.banner, garbage.not_tls, garbage.close_at_once])
def test_tls_and_identity_provider_against_a_server_that_is_not_tls_fail(answer, bundle):
    with RawServer(answer) as server:
        tls = readiness.check_tls(
            address=server.address, hostnames=[HOST], ca_bundle=bundle, timeout=2
        )
        idp = readiness.check_identity_provider(
            issuer=server.url("/", scheme="https"), ca_bundle=bundle, timeout=2
        )
    assert not tls.ok and "TLS connection" in tls.reason
    assert not idp.ok and "cannot reach" in idp.reason
    assert tls.identity_critical and idp.identity_critical


@pytest.mark.parametrize(
    "body,expected",
    [
        (b'{"issuer": "https://x", ', "did not return JSON"),
        (b"\xff\xfe not utf-8", "did not return JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "did not return JSON"),  # nesting too deep
        (b'"just a string"', "not a JSON object"),
    ],
)
def test_discovery_document_that_is_not_json_fails_with_its_start(
    body, expected, ca, bundle, tmp_path
):
    tls = leaf(ca, "127.0.0.1")
    with RawServer(garbage.http(200, body), tls=tls, tmp=tmp_path) as server:
        result = readiness.check_identity_provider(issuer=server.url("/"), ca_bundle=bundle)
    assert not result.ok and expected in result.reason
    if "JSON:" in result.reason:
        assert result.details["body_start"] and result.details["body_bytes"] == len(body)


def test_a_huge_or_endless_body_is_cut_off_and_fails(ca, bundle, tmp_path):
    tls = leaf(ca, "127.0.0.1")
    with RawServer(garbage.huge(5_000_000), tls=tls, tmp=tmp_path) as server:
        started = time.monotonic()
        idp = readiness.check_identity_provider(issuer=server.url("/"), ca_bundle=bundle)
        health = readiness.check_health(url=server.url("/healthz"), ca_bundle=bundle)
    assert time.monotonic() - started < 10
    assert not idp.ok and "larger than 1000000 bytes" in idp.reason
    assert not health.ok and health.details["limit_bytes"] == 1_000_000


def test_a_server_dripping_its_answer_is_given_up_on(ca, bundle, tmp_path):
    def drip(server, conn):
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        for _ in range(100):
            conn.sendall(b" ")
            time.sleep(0.1)

    with RawServer(drip) as server:
        started = time.monotonic()
        result = readiness.check_health(url=server.url("/healthz"), timeout=0.5)
    assert time.monotonic() - started < 3  # 3 x timeout, not the 10 s the drip would take
    assert not result.ok and "longer than 1.5 s" in result.reason


# --- the run: one check's garbage never loses the others' results --------------------------


@pytest.fixture
def gate_on(readiness_settings):
    readiness_settings.READINESS_SYSTEM_VETO = True
    return readiness_settings


@pytest.fixture
def good_target(ca, tmp_path):
    with serve(ca, tmp_path) as server:
        yield server


@pytest.fixture
def declared(service, people, good_target, gate_on):
    return declare_at(service, people, good_target)


def test_a_banner_on_the_health_url_no_longer_blocks_a_fully_approved_failover(declared, people):
    """The reported case: BadStatusLine from the health URL lost all four results and the
    request stayed readiness_pending for good."""
    approve_all(declared, people)
    with RawServer(garbage.banner) as banner:
        Target.objects.filter(pk=declared.to_target_id).update(health_url=banner.url("/healthz"))
        assert run_readiness(declared.pk) == 4
    latest = readiness_selectors.latest_checks(declared.pk)
    assert {k: r.ok for k, r in latest.items()} == {
        "tls": True,
        "identity_provider": True,
        "secrets": True,
        "health": False,
    }
    health = latest["health"]
    assert "BadStatusLine" in health.reason and "SSH-2.0" in health.details["read"]
    assert codes(declared) == []  # health is not identity-critical: nothing pending
    execute_request(actor=people["executor"], request_id=declared.pk)
    assert FailoverRequest.objects.get(pk=declared.pk).state == "executing"


def test_a_checker_that_raises_is_its_own_failed_result_and_the_others_report(declared, people):
    # A hostname no TLS library accepts: the TLS checker raises instead of answering.
    target = declared.to_target
    target.certificate_hostnames = [HOST, "x" * 300]
    target.save()
    rows = svc.run_readiness_checks(request_id=declared.pk)
    by_kind = {row.kind: row for row in rows}
    assert set(by_kind) == set(readiness.KINDS)
    tls = by_kind["tls"]
    assert not tls.ok and tls.is_system_veto
    assert tls.reason.startswith("the check could not complete: ")
    assert tls.details["exception"] in ("UnicodeError", "ValueError")
    assert all(by_kind[k].ok for k in ("identity_provider", "secrets", "health"))
    assert codes(declared) == ["system_veto"]
    event = AuditEvent.objects.get(action="readiness.checked", object_id=str(tls.pk))
    assert event.data["details"]["exception"] == tls.details["exception"]


def test_a_check_that_hangs_past_the_run_deadline_is_recorded_as_never_reported(
    declared, people, gate_on
):
    gate_on.READINESS_TIMEOUT = 0.5
    gate_on.READINESS_DEADLINE_TIMEOUTS = 4  # 2 s for the whole run
    with RawServer(garbage.hang) as blackhole:
        target = declared.to_target
        target.address = blackhole.address  # every hostname waits out its timeouts: 8 s
        target.certificate_hostnames = [f"h{i}.example.test" for i in range(8)]
        target.save()
        started = time.monotonic()
        rows = svc.run_readiness_checks(request_id=declared.pk)
        took = time.monotonic() - started
    assert took < 4, took
    by_kind = {row.kind: row for row in rows}
    tls = by_kind["tls"]
    assert not tls.ok and tls.is_system_veto
    assert "never reported" in tls.reason and "2 s" in tls.reason
    assert tls.details["not_reported"] is True
    assert all(by_kind[k].ok for k in ("identity_provider", "secrets", "health"))


def test_garbage_with_nul_bytes_and_huge_values_is_stored_on_the_database(declared, ca, tmp_path):
    """PostgreSQL refuses NUL in text and JSON: one odd issuer must not lose the run."""
    issuer_value = "https://evil\x00.example.test/" + "y" * 5000
    body = b'{"issuer": "%s", "jwks_uri": "x"}' % issuer_value.replace("\x00", "\\u0000").encode()
    with RawServer(garbage.http(200, body), tls=leaf(ca, "127.0.0.1"), tmp=tmp_path) as idp:
        target = declared.to_target
        target.oidc_issuer = idp.url("/")
        target.save()
        rows = svc.run_readiness_checks(request_id=declared.pk)
    row = ReadinessCheck.objects.get(pk=next(r.pk for r in rows if r.kind == "identity_provider"))
    assert not row.ok and "\x00" not in row.reason
    assert "\\x00" in row.details["discovered_issuer"]
    assert len(row.details["discovered_issuer"]) <= 1001


# --- checks that never report ---------------------------------------------------------------


def test_checks_that_never_report_become_failed_results_and_a_late_run_replaces_them(
    declared, people, monkeypatch, django_capture_on_commit_callbacks, gate_on
):
    sent = []
    monkeypatch.setattr("failover.dispatch.send_now", lambda task, *a, **kw: sent.append((task, a)))
    approve_all(declared, people)
    deadline = readiness_selectors.deadline_seconds()
    assert deadline == 12 * 3  # READINESS_DEADLINE_TIMEOUTS x READINESS_TIMEOUT

    def declared_ago(seconds):
        FailoverRequest.objects.filter(pk=declared.pk).update(
            created_at=timezone.now() - timedelta(seconds=seconds)
        )

    declared_ago(deadline - 5)  # before the deadline: re-sent, still pending
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep() == 1
    assert not ReadinessCheck.objects.filter(request=declared).exists()
    assert codes(declared) == ["readiness_pending"]

    declared_ago(deadline + 5)
    assert (
        "past their deadline"
        in verdict_for(FailoverRequest.objects.get(pk=declared.pk)).blocked_by[0].reason
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep() == 1  # recorded as failed, and asked once more
    rows = {row.kind: row for row in ReadinessCheck.objects.filter(request=declared)}
    assert set(rows) == set(readiness.KINDS) and not any(r.ok for r in rows.values())
    for row in rows.values():
        assert "never reported" in row.reason and row.details["not_reported"] is True
    assert sorted(codes(declared)) == ["system_veto"] * 3  # tls, identity provider, secrets
    assert AuditEvent.objects.filter(action="readiness.checked").count() == 4
    with pytest.raises(Exception, match="never reported"):
        execute_request(actor=people["executor"], request_id=declared.pk)
    assert len(sent) == 2

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep() == 1  # still only "never reported": keeps asking, writes nothing new
    assert ReadinessCheck.objects.filter(request=declared).count() == 4

    svc.run_readiness_checks(request_id=declared.pk)  # the late run reports
    assert codes(declared) == []
    assert sweep() == 0


def test_an_answer_cut_short_of_its_content_length_is_no_answer():
    """The server closed before the body it announced was sent: reading it as complete would
    take half a JWKS (or half of anything) for the whole."""
    import http.client

    from failover import outbound

    with RawServer(garbage.cut_short) as server, pytest.raises(http.client.IncompleteRead):
        outbound.request("GET", server.url("/jwks"), timeout=2)
