"""Verifying the whole audit chain through the API: POST starts a background job (202, a job to
poll), the job's own URL answers its progress and verdict, and the old GET answers the latest
finished verification. The task runs here in the test's process (`run_verification(pk)`, what
the worker calls); tests/audit/test_verification_jobs.py runs it in a real worker."""

import pytest
from django.contrib.auth.models import Permission

from audit.jobs import run_verification
from audit.models import AuditEvent, Verification
from tests.factories import user
from tests.tamper import tamper

pytestmark = pytest.mark.django_db
VERIFY = "/api/v1/audit-events/verify/"


@pytest.fixture(autouse=True)
def own_checkpoints(settings, tmp_path):
    """The verdict also reads the checkpoint stores: these tests' own, and empty."""
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    settings.AUDIT_CHECKPOINT_S3_BUCKET = ""


@pytest.fixture
def auditor(shop):
    person = user("auditor")
    person.user_permissions.add(
        Permission.objects.get(content_type__app_label="audit", codename="view_auditevent")
    )
    return person


def start(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # enqueued after commit
        return client.post(VERIFY)


def test_post_queues_one_job_and_says_where_to_poll(
    auditor, as_user, django_capture_on_commit_callbacks
):
    client = as_user("auditor")
    response = start(client, django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["state"] == "queued" and job["requested_by"] == "auditor"
    assert job["url"] == f"http://testserver/api/v1/audit-verifications/{job['id']}/"
    assert response["Location"] == job["url"]
    assert (job["ok"], job["verified"], job["started_at"], job["finished_at"]) == (
        None,
        0,
        None,
        None,
    )
    started = AuditEvent.objects.get(action="audit.verification_started")
    assert (started.actor, started.object_type, started.object_id) == (
        "auditor",
        "audit.verification",
        str(job["id"]),
    )
    # Clicking again while it waits returns the same job: nothing piles up.
    again = start(client, django_capture_on_commit_callbacks)
    assert again.status_code == 202 and again.json()["id"] == job["id"]
    assert Verification.objects.count() == 1
    assert AuditEvent.objects.filter(action="audit.verification_started").count() == 1


def test_the_job_answers_its_verdict_and_get_verify_answers_the_latest(
    auditor, as_user, django_capture_on_commit_callbacks
):
    client = as_user("auditor")
    missing = client.get(VERIFY)
    assert missing.status_code == 404
    assert "POST /api/v1/audit-events/verify/" in missing.json()["error"]["message"]

    job = start(client, django_capture_on_commit_callbacks).json()
    assert client.get(VERIFY).status_code == 404  # queued is not finished
    run_verification(job["id"])  # what the worker does
    polled = client.get(job["url"])
    assert polled.status_code == 200
    done = polled.json()
    events = AuditEvent.objects.filter(action="audit.verification_started").get().seq
    assert done["state"] == "done" and done["ok"] is True
    assert done["verified"] == done["total"] == events  # the chain as the job found it
    assert done["first_broken_seq"] is None and done["reason"] == ""
    assert done["started_at"] and done["finished_at"]

    finished = AuditEvent.objects.get(action="audit.verification_finished")
    assert finished.actor == "system"
    assert finished.data == {
        "verification": job["id"],
        "state": "done",
        "ok": True,
        "verified": events,
        "first_broken_seq": None,
    }
    latest = client.get(VERIFY)
    assert latest.status_code == 200
    body = latest.json()
    # What callers of the old synchronous answer read is still there.
    assert {k: body[k] for k in ("ok", "verified", "first_broken_seq", "reason")} == {
        "ok": True,
        "verified": events,
        "first_broken_seq": None,
        "reason": "",
    }
    assert body["id"] == job["id"] and "POST /api/v1/audit-events/verify/" in body["hint"]
    # Once it is done, a new start makes a new job.
    second = start(client, django_capture_on_commit_callbacks).json()
    assert second["id"] != job["id"] and second["state"] == "queued"


def test_a_broken_chain_is_a_done_job_with_the_first_broken_event(
    auditor, as_user, django_capture_on_commit_callbacks
):
    client = as_user("auditor")
    victim = AuditEvent.objects.order_by("seq")[2]
    tamper("UPDATE audit_auditevent SET actor = %s WHERE id = %s", ["someone-else", victim.pk])
    job = start(client, django_capture_on_commit_callbacks).json()
    run_verification(job["id"])
    done = client.get(job["url"]).json()
    assert (done["state"], done["ok"], done["first_broken_seq"]) == ("done", False, victim.seq)
    assert done["verified"] == victim.seq - 1
    assert done["reason"] == "content does not match its hash"
    assert client.get(VERIFY).json()["first_broken_seq"] == victim.seq
    finished = AuditEvent.objects.get(action="audit.verification_finished")
    assert (finished.data["ok"], finished.data["first_broken_seq"]) == (False, victim.seq)


def test_who_may_start_and_read_verifications(
    shop, auditor, as_user, django_capture_on_commit_callbacks
):
    job = start(as_user("auditor"), django_capture_on_commit_callbacks).json()
    run_verification(job["id"])
    path = f"/api/v1/audit-verifications/{job['id']}/"
    calls = {
        "start": lambda c: c.post(VERIFY),
        "latest": lambda c: c.get(VERIFY),
        "poll": lambda c: c.get(path),
    }
    jobs = AuditEvent.objects.filter(action__startswith="audit.verification")  # tokens add events
    before = (Verification.objects.count(), jobs.count())
    # Without the permission: refused.
    user("avail")
    for name, call in calls.items():
        response = call(as_user("avail"))
        assert response.status_code == 403, name
        assert "audit.view_auditevent" in response.json()["error"]["message"]
    # A token without the `audit` action, and one limited to a service (the chain spans them
    # all): refused as token scope.
    for scope in ({"actions": ["read"]}, {"services": [shop]}):
        for name, call in calls.items():
            response = call(as_user("auditor", **scope))
            assert response.status_code == 403, (name, scope)
            assert response.json()["error"]["code"] == "token_scope"
    assert (Verification.objects.count(), jobs.count()) == before
    # The auditor's `audit` token may do all three.
    client = as_user("auditor", actions=["audit"])
    assert [call(client).status_code for call in calls.values()] == [202, 200, 200]


@pytest.mark.parametrize("pk", ["0", "999999", "99999999999999999999999"])
def test_an_unknown_job_is_404(auditor, as_user, pk):
    response = as_user("auditor").get(f"/api/v1/audit-verifications/{pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert as_user("auditor").get("/api/v1/audit-verifications/x/").status_code == 404


def test_an_idempotency_key_replays_the_first_answer(
    auditor, as_user, django_capture_on_commit_callbacks
):
    client = as_user("auditor")
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(VERIFY, HTTP_IDEMPOTENCY_KEY="verify-1")
    again = client.post(VERIFY, HTTP_IDEMPOTENCY_KEY="verify-1")
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_starting_takes_no_input(auditor, as_user):
    client = as_user("auditor")
    refused = client.post(VERIFY, {"workers": 8}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {"workers": ["unknown field"]}
    assert client.post(VERIFY, "3", content_type="application/json").status_code == 400
    assert not Verification.objects.exists()
    assert client.post(VERIFY, {}, format="json").status_code == 202
