"""A decision over the API (issue 18): what it reads before it writes, and the answer it
gives: the request as the decision left it, from the row, decisions and verdict its
transaction read and computed under the request's lock (failover/api/one_request.py
`decided`), which must equal the answer built from scratch."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.fingerprints import request_facts
from approvals.readiness.checks.base import CheckResult
from approvals.readiness.services import store_results
from approvals.services import record_decision
from failover.degrade import local_cache
from failover.models import RecordValue
from failover.services import declare_request
from tests.factories import approve_all, user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_caches")]
VETO = {"kind": "veto", "comment": "IdP down"}
LIFT = {"kind": "lift_veto", "comment": "IdP back"}


@pytest.fixture
def pending(shop):
    return declare_request(actor=user("declarer"), service=shop, target="failover", reason="r")


def decide(client, pk, body, capture):
    with capture(execute=True):  # the test's transaction commits
        response = client.post(f"/api/v1/failover-requests/{pk}/decisions/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def built(client, pk) -> dict:
    cache.clear(), local_cache.clear()
    return client.get(f"/api/v1/failover-requests/{pk}/").json()


def test_a_writes_answer_shows_a_registry_edit_made_since_the_last_write(
    as_user, pending, django_capture_on_commit_callbacks
):
    """The drift is remembered under the registry's contents as the fingerprint reads them:
    an edit made behind the product's back between two decisions is in the second answer."""
    client = as_user("vetoer")
    first = decide(client, pending.pk, VETO, django_capture_on_commit_callbacks)
    assert first["drift"] == []
    RecordValue.objects.filter(record__service=pending.service, target__name="failover").update(
        values=["203.0.113.50"]
    )
    second = decide(client, pending.pk, LIFT, django_capture_on_commit_callbacks)
    assert second["drift"] == [
        "shop.example.test. A: the value for target failover changed from 203.0.113.1 "
        "to 203.0.113.50"
    ]
    assert "registry_changed" in [b["code"] for b in second["blocked_by"]]
    assert second == built(client, pending.pk)


def test_the_last_sign_off_that_executes_answers_with_its_dns_changes(
    as_user, pending, django_capture_on_commit_callbacks
):
    """Where the fingerprint counts DNS changes (here: those the executing sign-off just
    queued), the answer reads them; where it counts none, it reads nothing."""
    from approvals.models import Policy

    Policy.objects.filter(service=pending.service).update(execute_on_approval=True)
    approve_all(pending, with_ir=False)
    client = as_user("ir")
    body = {"kind": "sign_off", "role": "incident_response", "plan_hash": pending.plan_hash}
    answer = decide(client, pending.pk, body, django_capture_on_commit_callbacks)
    assert answer["state"] == "executing" and answer["changes"], answer
    assert answer == built(client, pending.pk)


def test_the_audit_head_is_locked_after_everything_the_decision_reads(pending):
    """The chain's head serialises every audited write: a decision takes it with its own
    event, after the rules engine's facts and the decider's authority are read, not before."""
    with CaptureQueriesContext(connection) as captured:
        record_decision(actor=user("vetoer"), request_id=pending.pk, kind="veto", comment="x")
    sql = [q["sql"] for q in captured.captured_queries]
    head = next(
        i for i, q in enumerate(sql) if "audit_head_for_append" in q or "audit_chainhead" in q
    )
    reads = [
        i
        for i, q in enumerate(sql)
        if "guardian_" in q or "readinesscheck" in q or '"approvals_decision"."id"' in q[:60]
    ]
    assert reads and max(reads) < head, sql


def test_a_decision_on_an_id_past_any_row_is_404(as_user):
    client = as_user("vetoer")
    for pk in ("99999999999999999999999", "9223372036854775808", "0"):
        response = client.post(f"/api/v1/failover-requests/{pk}/decisions/", VETO, format="json")
        assert response.status_code == 404, (pk, response.content)


APPROVE = {"kind": "approve", "role": "availability"}


@pytest.mark.parametrize("readiness", [False, True], ids=["readiness-off", "readiness-on"])
def test_every_acts_answer_is_the_request_as_built_from_scratch(
    as_user, pending, settings, django_capture_on_commit_callbacks, readiness
):
    """Veto, lift, an approval that leaves approvals missing, the one that completes them,
    and a rejection (closed: built after the commit): each answer equals the next read."""
    settings.READINESS_SYSTEM_VETO = readiness
    if readiness:
        store_results(pending, pending.to_target, [CheckResult("tls", False, "expired")])
    acts = [
        ("vetoer", VETO),
        ("vetoer", LIFT),
        ("avail", {**APPROVE, "plan_hash": pending.plan_hash}),
        ("identity", {"kind": "approve", "role": "identity", "plan_hash": pending.plan_hash}),
        ("ir", {"kind": "sign_off", "role": "incident_response", "plan_hash": pending.plan_hash}),
        (
            "ir",
            {
                "kind": "reject",
                "role": "incident_response",
                "plan_hash": pending.plan_hash,
                "comment": "not now",
            },
        ),
    ]
    states = []
    for who, body in acts:
        client = as_user(who)
        answer = decide(client, pending.pk, body, django_capture_on_commit_callbacks)
        assert answer == built(client, pending.pk), body
        states.append(answer["state"])
    assert states == ["pending", "pending", "pending", "pending", "approved", "rejected"]


def test_a_decisions_answer_reads_nothing_the_decision_read_under_its_lock(
    as_user, pending, settings, django_capture_on_commit_callbacks
):
    """One verdict per write: after the commit, the answer reads neither the request's row, its
    decisions, the deciders' authorities nor the readiness checks again."""
    settings.READINESS_SYSTEM_VETO = True
    client = as_user("vetoer")
    with CaptureQueriesContext(connection) as captured:
        decide(client, pending.pk, VETO, django_capture_on_commit_callbacks)
    sql = [q["sql"] for q in captured.captured_queries]
    commit = max(i for i, q in enumerate(sql) if q.startswith("COMMIT") or "RELEASE" in q[:8])
    with CaptureQueriesContext(connection) as fingerprint:
        request_facts(pending.pk)
    after = [q for q in sql[commit + 1 :] if q != fingerprint.captured_queries[0]["sql"]]
    again = [
        q
        for q in after
        if any(t in q for t in ('"approvals_decision"', "guardian_", "readinesscheck"))
        or q.startswith('SELECT "failover_failoverrequest"')
    ]
    assert again == [], again
