"""Readiness evidence on a request, secret attestations and the system veto (Django side)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.readiness import selectors as readiness_selectors
from approvals.readiness import services as svc
from approvals.readiness.models import ReadinessCheck, SecretAttestation
from approvals.readiness.tasks import run_readiness
from audit.models import AuditEvent
from failover.errors import Conflict, InvalidInput, NotAuthorised
from failover.services import declare_request
from tests.readiness.servers import HOST, SECRETS, point_target, serve

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("readiness_settings")]


def point_request(request, server):
    return point_target(request.to_target, server)


def attest_all(people, target, age_days=1):
    for name in SECRETS:
        svc.attest_secret(
            actor=people["identity"],
            target=target,
            secret_name=name,
            rotated_at=timezone.now() - timedelta(days=age_days),
        )


@pytest.fixture
def request_(service, people):
    return declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu down"
    )


def test_passing_target_stores_evidence_and_no_system_veto(ca, tmp_path, request_, people):
    with serve(ca, tmp_path) as server:
        target = point_request(request_, server)
        attest_all(people, target)
        rows = run_readiness(request_.pk)
    assert rows == 4
    latest = readiness_selectors.latest_checks(request_.pk)
    assert set(latest) == {"tls", "identity_provider", "secrets", "health"}
    assert all(row.ok for row in latest.values()), {k: r.reason for k, r in latest.items()}
    assert latest["tls"].identity_critical and not latest["health"].identity_critical
    tls = latest["tls"].details["hostnames"][0]
    assert tls["hostname"] == HOST and len(tls["sha256"]) == 64 and tls["not_after"]
    assert readiness_selectors.system_vetoes(request_.pk) == []
    assert AuditEvent.objects.filter(action="readiness.checked").count() == 4


def test_expired_certificate_places_a_system_veto_only_a_veto_holder_lifts(
    ca, tmp_path, request_, people
):
    with serve(ca, tmp_path, expired=True) as server:
        target = point_request(request_, server)
        attest_all(people, target)
        svc.run_readiness_checks(request_id=request_.pk)
    # The identity provider is served with the same expired certificate: it fails too.
    vetoes = {v.kind: v for v in readiness_selectors.system_vetoes(request_.pk)}
    assert set(vetoes) == {"tls", "identity_provider"}
    veto = vetoes["tls"]
    assert "expired" in veto.reason
    event = AuditEvent.objects.get(action="readiness.checked", object_id=str(veto.pk))
    assert event.data["system_veto"] is True

    for name in ("identity", "declarer", "other", "outsider"):  # no `veto` on this service
        with pytest.raises(NotAuthorised):
            svc.lift_system_veto(actor=people[name], check_id=veto.pk, reason="accepted")
    for reason in ("", "   "):
        with pytest.raises(InvalidInput):
            svc.lift_system_veto(actor=people["vetoer"], check_id=veto.pk, reason=reason)
    assert veto in readiness_selectors.system_vetoes(request_.pk)
    assert not AuditEvent.objects.filter(action="readiness.system_veto_lifted").exists()

    lifted = svc.lift_system_veto(
        actor=people["vetoer"], check_id=veto.pk, reason="renewal deployed, checked by hand"
    )
    assert lifted.lifted_by == people["vetoer"] and lifted.lifted_at
    assert [v.kind for v in readiness_selectors.system_vetoes(request_.pk)] == ["identity_provider"]
    event = AuditEvent.objects.get(action="readiness.system_veto_lifted")
    assert event.actor == "vetoer" and event.data["reason"] == "renewal deployed, checked by hand"
    with pytest.raises(Conflict):
        svc.lift_system_veto(actor=people["vetoer2"], check_id=veto.pk, reason="again")


def test_a_passing_check_cannot_be_lifted(ca, tmp_path, request_, people):
    with serve(ca, tmp_path) as server:
        point_request(request_, server)
        svc.run_readiness_checks(request_id=request_.pk)
    tls = readiness_selectors.latest_checks(request_.pk)["tls"]
    assert tls.ok
    with pytest.raises(Conflict):
        svc.lift_system_veto(actor=people["vetoer"], check_id=tls.pk, reason="why not")


def test_a_newer_passing_check_clears_the_system_veto(ca, tmp_path, request_, people):
    with serve(ca, tmp_path) as server:
        target = point_request(request_, server)
        svc.run_readiness_checks(request_id=request_.pk)  # no attestations yet
        assert [v.kind for v in readiness_selectors.system_vetoes(request_.pk)] == ["secrets"]
        attest_all(people, target)
        svc.run_readiness_checks(request_id=request_.pk)
    assert readiness_selectors.system_vetoes(request_.pk) == []
    assert ReadinessCheck.objects.filter(request=request_, kind="secrets").count() == 2


def test_secret_attestation_older_than_the_limit_fails(ca, tmp_path, request_, people, settings):
    settings.READINESS_SECRET_MAX_AGE_DAYS = 90
    with serve(ca, tmp_path) as server:
        target = point_request(request_, server)
        attest_all(people, target, age_days=91)
        svc.run_readiness_checks(request_id=request_.pk)
    (veto,) = readiness_selectors.system_vetoes(request_.pk)
    assert veto.kind == "secrets" and "older than 90 days" in veto.reason
    assert all(not e["ok"] for e in veto.details["secrets"])


def test_unreachable_target_vetoes_on_every_identity_critical_check(request_):
    svc.run_readiness_checks(request_id=request_.pk)  # 203.0.113.1, no hostnames, fake issuer
    assert {v.kind for v in readiness_selectors.system_vetoes(request_.pk)} == {
        "tls",
        "identity_provider",
        "secrets",
    }


def test_attesting_a_secret_needs_approve_identity_and_is_audited(service, people):
    target = service.targets.get(name="failover")
    for name in ("avail", "vetoer", "other", "outsider"):
        with pytest.raises(NotAuthorised):
            svc.attest_secret(
                actor=people[name], target=target, secret_name="x", rotated_at=timezone.now()
            )
    with pytest.raises(InvalidInput):
        svc.attest_secret(
            actor=people["identity"], target=target, secret_name=" ", rotated_at=timezone.now()
        )
    with pytest.raises(InvalidInput):
        svc.attest_secret(
            actor=people["identity"],
            target=target,
            secret_name="x",
            rotated_at=timezone.now() + timedelta(days=1),
        )
    assert not SecretAttestation.objects.exists()
    attestation = svc.attest_secret(
        actor=people["identity"],
        target=target,
        secret_name="oidc_client_secret",
        rotated_at=timezone.now() - timedelta(days=3),
    )
    assert attestation.attested_by == people["identity"]
    event = AuditEvent.objects.get(action="readiness.secret_attested")
    assert event.actor == "identity" and event.data["secret"] == "oidc_client_secret"


def test_pinned_bundle_comes_from_the_certificate_trust(service, settings):
    target = service.targets.get(name="failover")
    assert readiness_selectors.ca_bundle_for(target) == settings.READINESS_CA_BUNDLES["US CA"]
    assert readiness_selectors.ca_bundle_for(service.targets.get(name="primary")) is None


def test_on_demand_run_is_queued_after_commit(
    request_, people, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        "failover.dispatch.send_now", lambda task, *args, **kw: sent.append((task, args))
    )
    with pytest.raises(NotAuthorised):
        svc.request_readiness_checks(actor=people["outsider"], request_id=request_.pk)
    with django_capture_on_commit_callbacks(execute=True):
        svc.request_readiness_checks(actor=people["identity"], request_id=request_.pk)
    assert sent == [(svc.TASK, (request_.pk,))]
    assert AuditEvent.objects.filter(action="readiness.requested").count() == 1


def test_the_task_is_registered_under_its_name():
    import approvals.readiness.tasks  # noqa: F401
    from failover.celery import app

    assert svc.TASK in app.tasks
