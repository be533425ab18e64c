"""The report's evidence after a real failover, its audit verification and its cost."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.execution import rollback_request
from approvals.services import record_decision
from audit.models import AuditEvent
from audit.services import record_event
from dnsproviders.rollback_checks import run_due_checks
from failover.report.evidence import build_report
from tests.factories import user
from tests.report.conftest import declare, run_worker
from tests.tamper import tamper

pytestmark = pytest.mark.django_db


def controls(report) -> dict[str, dict]:
    return {c["id"]: c for c in report["frameworks"]["controls"]}


def test_the_report_of_an_applied_failover_holds_every_piece_of_evidence(applied):
    report = build_report(applied)
    json.dumps(report)  # plain JSON data, nothing else

    r = report["request"]
    assert (r["id"], r["state"], r["incident_ref"]) == (applied.pk, "applied", "INC-7")
    assert r["plan_hash"] == r["plan_hash_recomputed"] == applied.plan_hash
    assert r["execution"]["by"] == "executor" and r["execution"]["reason"] == "executed (approved)"
    assert len(r["auth_changes"]) == 3  # identity provider, certificate trust, data region

    decisions = {(d["actor"], d["role"], d["kind"]): d for d in report["decisions"]}
    assert set(decisions) == {
        ("avail", "availability", "approve"),
        ("identity", "identity", "approve"),
        ("ir", "incident_response", "sign_off"),
    }
    events = {e["seq"]: e for e in report["timeline"]}
    for d in decisions.values():
        assert d["plan_hash"] == applied.plan_hash and d["on_request_plan"]
        assert d["at"] and d["channel"] == "web" and d["before_execution"]
        assert events[d["audit_seq"]]["action"] == f"decision.{d['kind']}"

    (change,) = report["dns_changes"]
    assert change["direction"] == "failover" and change["status"] == "verified"
    assert change["provider"] == {"name": "test-zones", "kind": "zonefile"}
    assert change["provider_change_id"].startswith("example.test@")
    assert change["submitted_at"] and change["insync_at"] and change["verified_at"]
    assert change["records"] == [
        {
            "name": "shop.example.test.",
            "type": "A",
            "ttl": 60,
            "set_identifier": "",
            "before": ["198.51.100.1"],
            "read_before": None,  # a first attempt reads nothing: the batch is the check
            "after": ["203.0.113.1"],
            "read_after": ["203.0.113.1"],
        }
    ]
    reads = change["reads"]
    assert reads["before_seq"] is None
    assert events[reads["swap_seq"]]["action"] == "dns.submitted"
    assert events[reads["after_seq"]]["action"] == "dns.provider_call"
    assert reads["swap_seq"] < reads["after_seq"]
    # The controls name that proof, where they named the read before.
    assert "accepted the compare-and-swap batch" in json.dumps(report)

    rollback = report["rollback"]
    assert rollback["criteria"]["min_minutes_on_target"] == 0
    assert rollback["notes"] == "EU back first"
    assert len(rollback["checks"]) == 1 and rollback["checks"][0]["evaluated_at"] is None

    checks = report["readiness"]["checks"]
    assert {c["kind"] for c in checks} == {"tls", "identity_provider", "secrets", "health"}
    assert all(c["ok"] and c["before_execution"] and c["audit_seq"] for c in checks)
    assert {a["secret"] for a in report["readiness"]["attestations"]} == {
        "tls_private_key",
        "oidc_client_secret",
    }
    assert report["break_glass"] == []

    actions = [e["action"] for e in report["timeline"]]
    assert actions[0] == "request.declared"
    assert {"readiness.checked", "dns.verified", "target.activated"} <= set(actions)
    assert [e["seq"] for e in report["timeline"]] == sorted(events)

    v = report["verification"]
    assert v["ok"] and v["first_broken_seq"] is None and v["reason"] == ""
    assert v["verified"] == v["events"] == len(report["timeline"])
    assert v["chain"]["checked"] and v["chain"]["ok"]
    assert v["chain"]["verified"] == AuditEvent.objects.count()

    status = {k: c["status"] for k, c in controls(report).items()}
    for met in ("RC.RP-01", "RC.RP-02", "RC.RP-03", "RC.RP-04", "RC.RP-05"):
        assert status[met] == "met", controls(report)[met]
    assert status["PR.AA-05"] == "met" and status["NHI2"] == "met" and status["NHI7"] == "met"
    assert status["RC.RP-06"] == "gap"  # still applied: the end of recovery is not declared
    assert status["NHI5"] == status["NHI9"] == "not_applicable"  # no machine identity acted


def test_rolling_back_after_the_criteria_are_met_declares_the_end_of_recovery(applied, people):
    run_due_checks(now=timezone.now() + timedelta(minutes=1))
    rollback_request(actor=people["rollbacker"], request_id=applied.pk, reason="EU healthy")
    run_worker(applied)
    report = build_report(applied)
    assert report["request"]["state"] == "rolled_back"
    failover, rollback = report["dns_changes"]
    assert failover["direction"] == "failover" and failover["status"] == "verified"
    assert rollback["direction"] == "rollback" and rollback["status"] == "verified"
    assert rollback["records"][0]["before"] == ["203.0.113.1"]
    assert rollback["records"][0]["after"] == ["198.51.100.1"]
    assert report["rollback"]["proposed_at"]
    assert report["rollback"]["started"]["by"] == "rollbacker"
    assert report["rollback"]["started"]["criteria_met"] is True
    rc_rp_06 = controls(report)["RC.RP-06"]
    assert rc_rp_06["status"] == "met", rc_rp_06
    assert any("criteria evaluated as met" in line for line in rc_rp_06["lines"])


def test_an_edited_event_of_the_request_shows_as_broken_evidence(applied):
    victim = AuditEvent.objects.get(action="decision.approve", data__role="identity")
    tamper(
        "UPDATE audit_auditevent SET data = %s WHERE id = %s",
        [json.dumps({**victim.data, "comment": "nothing to see"}), victim.pk],
    )
    report = build_report(applied)
    v = report["verification"]
    assert not v["ok"] and v["first_broken_seq"] == victim.seq
    assert v["request_events"]["first_broken_seq"] == victim.seq
    assert v["request_events"]["reason"] == "content does not match its hash"
    assert v["chain"]["ok"] is False and v["chain"]["first_broken_seq"] == victim.seq
    rc_rp_06 = controls(report)["RC.RP-06"]
    assert rc_rp_06["status"] == "gap"
    assert any(f"broken at event #{victim.seq}" in line for line in rc_rp_06["lines"])


def test_an_event_re_hashed_to_hide_an_edit_is_caught_by_its_neighbour(applied):
    """Someone who recomputes the edited event's own hash still breaks the next link."""
    from audit.chain import stored_event_hash

    victim = AuditEvent.objects.get(action="decision.approve", data__role="availability")
    data = {**victim.data, "comment": "rewritten"}
    victim.data = data
    forged = stored_event_hash(victim)
    tamper(
        "UPDATE audit_auditevent SET data = %s, hash = %s WHERE id = %s",
        [json.dumps(data), forged, victim.pk],
    )
    own = build_report(applied)["verification"]["request_events"]
    assert not own["ok"] and own["first_broken_seq"] == victim.seq
    assert own["reason"] == f"event #{victim.seq + 1} does not name this event's hash"


def test_a_removed_event_next_to_the_request_is_noticed(applied):
    declared = AuditEvent.objects.get(action="request.declared")
    before = AuditEvent.objects.get(seq=declared.seq - 1)
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [before.pk])
    v = build_report(applied)["verification"]
    assert not v["ok"] and v["first_broken_seq"] == declared.seq
    assert v["request_events"]["reason"] == f"event #{before.seq} before it is missing"


def test_a_break_elsewhere_in_the_chain_fails_the_report_too(applied):
    victim = AuditEvent.objects.filter(action="authority.granted").first()
    tamper("UPDATE audit_auditevent SET actor = %s WHERE id = %s", ["mallory", victim.pk])
    v = build_report(applied)["verification"]
    assert v["request_events"]["ok"]  # this request's own events are intact...
    assert not v["ok"] and v["first_broken_seq"] == victim.seq  # ...the chain is not
    assert v["reason"].startswith("whole chain: ")


def test_past_the_limit_only_the_requests_events_are_walked(applied, monkeypatch):
    monkeypatch.setattr("failover.report.verification.FULL_CHAIN_LIMIT", 5)
    v = build_report(applied)["verification"]
    assert v["ok"] and not v["chain"]["checked"] and "manage.py verify_audit" in v["chain"]["note"]


def test_credentials_in_the_evidence_are_redacted_and_flagged(service, people):
    request = declare(service)
    token = "fa_0123456789ab_" + "s3cr3tS3cr3tS3cr3tS3cr3t"
    record_decision(
        actor=people["avail"],
        request_id=request.pk,
        kind="approve",
        role="availability",
        plan_hash=request.plan_hash,
        comment=f"used {token} to check",
    )
    report = build_report(request)
    text = json.dumps(report)
    assert token not in text and "[redacted: an API token of this product]" in text
    assert report["verification"]["ok"]  # redaction is of the report, never of the log
    where = {f["where"] for f in report["secret_scan"]["findings"]}
    assert "decisions[0].comment" in where
    nhi2 = controls(report)["NHI2"]
    assert nhi2["status"] == "gap"
    assert any("decisions[0].comment" in line for line in nhi2["lines"])


def test_building_the_report_costs_the_same_whatever_its_size(
    service, people, django_assert_max_num_queries
):
    request = declare(service)
    with CaptureQueriesContext(connection) as captured:
        build_report(request)
    few = len(captured)
    assert few <= 25
    for n in range(12):
        who = "vetoer" if n % 2 else "vetoer2"
        veto = record_decision(
            actor=user(who),
            request_id=request.pk,
            kind="veto",
            plan_hash=request.plan_hash,
            comment=f"veto {n}",
        )
        record_decision(actor=user(who), request_id=request.pk, kind="lift_veto", veto_id=veto.pk)
        record_event(action="rollback.checked", obj=request, actor=None, data={"n": n})
    with django_assert_max_num_queries(few):
        report = build_report(request)
    assert len(report["decisions"]) == 24 and len(report["timeline"]) > 36
