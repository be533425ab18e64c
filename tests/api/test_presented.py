"""GET /api/v1/failover-requests/{id}/ answered from memory (failover/api/presented.py):
a read of an unchanged request costs the token and one query; every input of the answer
(a decision, a veto and its lift, a grant removed, a readiness result, a signal, a DNS
change) makes the next read the answer as built from scratch, and so does time alone (an
approval expiring, a signal leaving its window, readiness falling late)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import Decision, Policy
from approvals.readiness.checks.base import CheckResult
from approvals.readiness.services import store_results
from approvals.services import record_decision
from failover.degrade import local_cache
from failover.models import FailoverRequest, Signal
from failover.services import declare_request, record_signal
from tests.factories import approve_all, make_service, user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_caches")]

# The token, and the fingerprint of the request's data.
REMEMBERED_READ_QUERIES = 2


@pytest.fixture
def pending(shop):
    return declare_request(actor=user("declarer"), service=shop, target="failover", reason="r")


class Reader:
    def __init__(self, client, pk: int):
        self.client, self.url = client, f"/api/v1/failover-requests/{pk}/"

    def read(self) -> dict:
        response = self.client.get(self.url)
        assert response.status_code == 200, response.content
        return response.json()

    def remembered(self) -> dict:
        """A read that must come from memory: the token and the fingerprint, nothing built."""
        with CaptureQueriesContext(connection) as captured:
            body = self.read()
        assert len(captured.captured_queries) == REMEMBERED_READ_QUERIES, [
            q["sql"][:80] for q in captured.captured_queries
        ]
        return body

    def built(self) -> dict:
        """The answer as built from scratch now (memory emptied)."""
        cache.clear(), local_cache.clear()
        return self.read()


@pytest.fixture
def reader(as_user, pending):
    def open_as(username: str, request: FailoverRequest | None = None) -> Reader:
        return Reader(as_user(username), (request or pending).pk)

    return open_as


def test_an_unchanged_read_comes_from_memory_and_is_the_same(reader):
    avail = reader("avail")
    first = avail.read()
    assert avail.remembered() == first == avail.built()


def _approve(request, who="avail", role="availability", kind="approve"):
    record_decision(
        actor=user(who), request_id=request.pk, kind=kind, role=role, plan_hash=request.plan_hash
    )


def _veto(request):
    record_decision(actor=user("vetoer"), request_id=request.pk, kind="veto", comment="IdP down")


def _lift(request):
    _veto(request)
    record_decision(actor=user("vetoer"), request_id=request.pk, kind="lift_veto", comment="ok")


def _grant_removed(request):
    _approve(request)
    user("avail").groups.remove(Group.objects.get(name="shop approve_availability"))


def _readiness(request):
    store_results(request, request.to_target, [CheckResult("tls", False, "certificate expired")])


def _executed(request):
    for who, kind, role in [
        ("avail", "approve", "availability"),
        ("identity", "approve", "identity"),
        ("ir", "sign_off", "incident_response"),
    ]:
        _approve(request, who, role, kind)
    from approvals.execution import execute_request

    execute_request(actor=user("executor"), request_id=request.pk)


@pytest.mark.parametrize(
    "change",
    [_approve, _veto, _lift, _grant_removed, _readiness, _executed],
    ids=lambda f: f.__name__,
)
def test_every_change_reaches_the_next_read(reader, pending, change):
    identity = reader("identity")  # sees the request throughout, whatever changes
    before = identity.read()
    identity.remembered()
    change(pending)
    after = identity.read()
    assert after != before
    assert after == identity.built()


def test_a_signal_reaches_the_next_read_and_leaves_it_with_its_window(as_user):
    status = make_service(
        "status",
        mode="preapproved_thresholds",
        auth_change=False,
        thresholds=(("error_rate", "gte", 5.0),),
    )
    request = declare_request(
        actor=user("declarer"), service=status, target="failover", reason="5xx"
    )
    declarer = Reader(as_user("declarer"), request.pk)
    assert declarer.read()["preapproved_by"] is None
    declarer.remembered()
    signal = record_signal(service=status, metric="error_rate", value=12.5)
    assert declarer.read()["preapproved_by"]
    # The signal is one second from leaving the service's window (a row changed under the
    # application: nothing but the clock moves the answer from here).
    window = timedelta(minutes=Policy.objects.get(service=status).signal_window_minutes)
    Signal.objects.filter(pk=signal.pk).update(
        received_at=timezone.now() - window + timedelta(seconds=1)
    )
    cache.clear(), local_cache.clear()
    assert declarer.read()["preapproved_by"]
    assert declarer.remembered()["preapproved_by"]
    time.sleep(1.2)
    assert declarer.read()["preapproved_by"] is None


def test_an_approval_expiring_reaches_the_next_read(reader, pending):
    _approve(pending)
    validity = timedelta(
        minutes=Policy.objects.get(service=pending.service).approval_validity_minutes
    )
    Decision.objects.filter(request=pending).update(
        created_at=timezone.now() - validity + timedelta(seconds=1)
    )
    identity = reader("identity")
    before = identity.read()
    assert "availability" not in [m["role"] for m in before["missing"]]
    assert identity.remembered() == before
    time.sleep(1.2)
    after = identity.read()
    assert "availability" in [m["role"] for m in after["missing"]]
    assert after == identity.built()


def test_readiness_falling_late_reaches_the_next_read(reader, pending, settings):
    settings.READINESS_SYSTEM_VETO = True
    settings.READINESS_TIMEOUT, settings.READINESS_DEADLINE_TIMEOUTS = 1, 1
    identity = reader("identity")
    reasons = [b["reason"] for b in identity.read()["blocked_by"]]
    assert any("not reported yet" in r and "past their deadline" not in r for r in reasons)
    identity.remembered()
    time.sleep(1.2)
    reasons = [b["reason"] for b in identity.read()["blocked_by"]]
    assert any("past their deadline" in r for r in reasons)


def test_removed_from_the_group_the_remembered_answer_is_not_theirs(reader, pending):
    avail = reader("avail")
    avail.read()
    avail.remembered()
    user("avail").groups.remove(Group.objects.get(name="shop approve_availability"))
    # Still in other groups of the shop? No: avail held the shop through that group only.
    assert avail.client.get(avail.url).status_code == 404


def test_a_token_of_another_service_never_gets_the_remembered_answer(as_user, pending, elsewhere):
    reader = Reader(as_user("avail"), pending.pk)
    reader.read()
    narrow = as_user("avail", services=[elsewhere])
    assert narrow.get(reader.url).status_code == 404
    stranger = as_user("other")
    assert stranger.get(reader.url).status_code == 404


def test_a_new_reader_is_checked_before_the_remembered_answer(as_user, pending):
    Reader(as_user("avail"), pending.pk).read()
    outsider = as_user("nobody-here")
    assert outsider.get(f"/api/v1/failover-requests/{pending.pk}/").status_code == 404
    assert outsider.get("/api/v1/failover-requests/99999999999999999999999/").status_code == 404


def test_a_decisions_answer_is_what_the_next_reader_gets(
    as_user, pending, django_capture_on_commit_callbacks
):
    url = f"/api/v1/failover-requests/{pending.pk}/"
    client = as_user("vetoer")
    with django_capture_on_commit_callbacks(execute=True):  # the test's transaction commits
        answer = client.post(
            url + "decisions/", {"kind": "veto", "comment": "IdP down"}, format="json"
        )
    assert answer.status_code == 201, answer.content
    # Remembered by the write: nothing but the decision moved while it worked.
    vetoer = Reader(client, pending.pk)
    assert vetoer.remembered() == answer.json()
    identity = Reader(as_user("identity"), pending.pk)
    assert identity.read() == answer.json() == identity.built()


# The query asking whether the caller may see the request (failover/api/access.py).
VISIBILITY = 'AS "a" FROM "failover_failoverrequest"'
VETO = {"kind": "veto", "comment": "IdP down"}


def _visibility_asked(client, url: str, body: dict) -> bool:
    with CaptureQueriesContext(connection) as captured:
        response = client.post(url, body, format="json")
    assert response.status_code == 201, response.content
    return any(VISIBILITY in q["sql"] for q in captured.captured_queries)


def test_a_decision_by_a_caller_seen_since_nothing_moved_does_not_ask_again(
    as_user, pending, django_capture_on_commit_callbacks
):
    """A decision reads the request's facts first; a caller remembered as allowed under them
    (by their last read or decision) is not asked about again."""
    url = f"/api/v1/failover-requests/{pending.pk}/decisions/"
    client = as_user("vetoer")
    with django_capture_on_commit_callbacks(execute=True):
        assert _visibility_asked(client, url, VETO)  # a caller not seen yet is asked about
        assert not _visibility_asked(client, url, {"kind": "lift_veto", "comment": "ok"})


def test_a_decision_by_someone_removed_since_they_were_seen_is_a_404(as_user, pending):
    """Removed from the group after a read remembered them as allowed: their decision finds
    the request's facts moved, asks again, and is told the request does not exist for them,
    not why it would be refused; nothing is recorded."""
    client = as_user("avail")
    reader = Reader(client, pending.pk)
    reader.read()
    reader.remembered()
    user("avail").groups.remove(Group.objects.get(name="shop approve_availability"))
    body = {"kind": "approve", "role": "availability", "plan_hash": pending.plan_hash}
    answer = client.post(reader.url + "decisions/", body, format="json")
    assert answer.status_code == 404, answer.content
    assert not Decision.objects.filter(request=pending).exists()


HEAD = ("audit_head_for_append", '"audit_chainhead"')  # PostgreSQL's function, SQLite's row
FACTS = "COALESCE(CAST((SELECT MAX(seq)"  # the fingerprint's query (approvals/fingerprints.py)


def _facts_read(client, url: str, body: dict) -> tuple[list[int], int]:
    """Where a decision read the fingerprint's facts among its queries, and where the head."""
    with CaptureQueriesContext(connection) as captured:
        answer = client.post(url, body, format="json")
    assert answer.status_code == 201, answer.content
    sqls = [q["sql"] for q in captured.captured_queries]
    head = next(i for i, sql in enumerate(sqls) if any(h in sql for h in HEAD))
    return [i for i, sql in enumerate(sqls) if FACTS in sql], head


def test_a_decision_that_writes_only_itself_reads_the_facts_once(
    as_user, pending, django_capture_on_commit_callbacks
):
    """A veto writes its row and its event, nothing else: the facts it leaves are those it
    read first with these two added (fingerprints.with_decision), not read again, and the
    next reader finds its answer under them (the test above)."""
    client = as_user("vetoer")
    url = f"/api/v1/failover-requests/{pending.pk}/decisions/"
    with django_capture_on_commit_callbacks(execute=True):
        facts, head = _facts_read(client, url, VETO)
    assert len(facts) == 1 and facts[0] < head, facts  # before the decision read anything
    assert Reader(client, pending.pk).remembered()["state"] == "pending"


def test_a_decision_that_moves_the_request_reads_no_fingerprint_while_it_holds_the_head(
    as_user, pending, django_capture_on_commit_callbacks
):
    """Every write in the system waits for the audit chain's head while a decision holds it:
    a decision that writes more than itself (the last sign-off: the request becomes approved)
    reads the facts it leaves before its events are appended, not after."""
    client = as_user("ir")
    url = f"/api/v1/failover-requests/{pending.pk}/decisions/"
    approve_all(pending, with_ir=False)
    body = {"kind": "sign_off", "role": "incident_response", "plan_hash": pending.plan_hash}
    with django_capture_on_commit_callbacks(execute=True):
        facts, head = _facts_read(client, url, body)
    assert len(facts) == 2, facts  # before the decision read anything, and as it leaves them
    assert max(facts) < head, facts
    pending.refresh_from_db()
    assert pending.state == "approved"
    remembered = Reader(client, pending.pk).remembered()
    assert remembered == Reader(client, pending.pk).built()


def test_a_change_landing_while_a_decision_works_is_never_remembered_with_its_answer(
    as_user, pending, django_capture_on_commit_callbacks
):
    """A grant removed between the decision's first read and its commit (here by a receiver in
    its transaction; in production by another one): the answer is not kept, and the next read
    builds one that reflects the removal."""
    from django.db.models.signals import post_save

    from approvals.models import Decision

    def remove_a_grant(sender, instance, created, **kwargs):
        user("avail").groups.remove(Group.objects.get(name="shop approve_availability"))

    url = f"/api/v1/failover-requests/{pending.pk}/"
    client = as_user("vetoer")
    post_save.connect(remove_a_grant, sender=Decision, dispatch_uid="test-grant-removed")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            answer = client.post(
                url + "decisions/", {"kind": "veto", "comment": "x"}, format="json"
            )
    finally:
        post_save.disconnect(sender=Decision, dispatch_uid="test-grant-removed")
    assert answer.status_code == 201, answer.content
    vetoer = Reader(client, pending.pk)
    with CaptureQueriesContext(connection) as captured:
        first = vetoer.read()
    assert len(captured.captured_queries) > REMEMBERED_READ_QUERIES  # built, not remembered
    assert first == vetoer.built()


def test_a_change_after_a_decisions_commit_is_never_served_its_answer(rf, reader, pending):
    """The answer is kept under the facts the decision left, read before its commit: a grant
    removed after the commit, before the answer is kept, moves the fingerprint readers
    compute, so they never get it and build one that reflects the removal."""
    from approvals.fingerprints import request_facts, request_fingerprint
    from approvals.services import decide
    from failover.api import presented
    from failover.api.one_request import decided

    outcome = decide(
        actor=user("vetoer"),
        request_id=pending.pk,
        kind="veto",
        comment="x",
        watched_from=request_facts(pending.pk),
    )
    user("avail").groups.remove(Group.objects.get(name="shop approve_availability"))
    found = decided(outcome)
    assert found is not None
    answer, fingerprint, until = found
    assert fingerprint is not None  # nothing but the decision moved while it worked
    request = rf.get("/")
    request.user, request.auth = user("vetoer"), None
    presented.keep(request, pending.pk, fingerprint, answer, until)
    now = request_fingerprint(pending.pk)
    assert now != fingerprint
    assert cache.get(f"{presented.PREFIX}:data:{pending.pk}:{now}") is None
    assert cache.get(f"{presented.PREFIX}:data:{pending.pk}:{fingerprint}") is not None
    identity = reader("identity")
    assert identity.read() == identity.built()


def test_a_change_landing_while_a_writes_answer_is_built_is_never_served(rf, reader, pending):
    """`after_write` reads the fingerprint before it builds: a change committed meanwhile (a
    grant removed here) leaves the answer under a fingerprint no later read matches."""
    from failover.api import presented

    request = rf.get("/")
    request.user, request.auth = user("identity"), None
    until = timezone.now() + timedelta(minutes=1)

    def build(facts):
        user("avail").groups.remove(Group.objects.get(name="shop approve_availability"))
        return {"from": "before the change"}, until

    assert presented.after_write(request, pending.pk, build=build) == {"from": "before the change"}
    identity = reader("identity")
    assert identity.read() == identity.built() != {"from": "before the change"}


def test_an_entry_it_did_not_write_is_never_served(reader, pending):
    """What the cache hands back is sealed: a forged answer, garbage, or a real answer moved
    to another key is built again, not served."""
    from approvals.fingerprints import request_fingerprint
    from failover.api.presented import PREFIX

    identity = reader("identity")
    honest = identity.read()
    key = f"{PREFIX}:data:{pending.pk}:{request_fingerprint(pending.pk)}"
    payload, until, mac = cache.get(key)
    forged = payload.replace(b'"may_execute":false', b'"may_execute":true')
    assert forged != payload
    for entry in [
        (forged, until, mac),
        ("garbage", until, mac),
        (payload, until + 3600, mac),  # kept longer than it was sealed for
        b"not even a tuple",
    ]:
        cache.set(key, entry)
        assert identity.read() == honest
        assert cache.get(key)[0] == payload  # built again and sealed anew
