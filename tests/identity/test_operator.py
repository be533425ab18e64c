"""An accountable command line: `manage.py request … --as USER` stands in for a person only in
the demo (DEBUG) or an explicit operator mode, names the operator in every audit event, and
tells the person."""

import os
import pwd
import socket
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from approvals.models import Decision
from audit.models import AuditEvent
from failover.demo.seed import seed_demo
from failover.models import FailoverRequest, Service
from failover.services import declare_request
from tests.factories import user

OS_USER = pwd.getpwuid(os.geteuid()).pw_name  # not $USER, which anyone can set
REASON = "avail is on a plane; approved by phone at 14:02"


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("request", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def request_(zone_dir):
    seed_demo()
    return declare_request(
        actor=user("ic"),
        service=Service.objects.get(slug="checkout"),
        target="failover",
        reason="EU down",
    )


@pytest.fixture
def operator_mode(settings, monkeypatch):
    settings.DEBUG = False
    settings.CLI_OPERATOR_MODE = True
    monkeypatch.setenv("SUDO_USER", "alice")
    for name in ("USER", "LOGNAME"):  # what getpass.getuser() would believe
        monkeypatch.setenv(name, "someone-else")


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def approve(request, *extra):
    return run("decide", str(request.pk), "approve", "--role", "availability", *extra)


@pytest.mark.django_db
@pytest.mark.parametrize("extra", [(), ("--operator-reason", REASON)])
def test_acting_for_someone_is_refused_without_the_demo_or_operator_mode(request_, settings, extra):
    settings.DEBUG = False
    settings.CLI_OPERATOR_MODE = False
    before = last_seq()
    with pytest.raises(CommandError, match=r"--as.* is off.*CLI_OPERATOR_MODE"):
        approve(request_, "--as", "avail", *extra)
    assert last_seq() == before  # not even the refusal is an act in someone's name
    assert not Decision.objects.exists()
    assert mail.outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "extra", [(), ("--operator-reason", "because"), ("--operator-reason", " ")]
)
def test_operator_mode_needs_a_reason(request_, operator_mode, extra):
    before = last_seq()
    with pytest.raises(CommandError, match=r"--operator-reason .at least 10 characters"):
        approve(request_, "--as", "avail", *extra)
    assert last_seq() == before
    assert not Decision.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_operator_act_names_the_operator_in_every_event_and_tells_the_person(
    request_, operator_mode
):
    before = last_seq()
    out, err = approve(request_, "--as", "avail", "--operator-reason", REASON)

    decision = Decision.objects.get()
    assert decision.actor.username == "avail" and decision.channel == "cli"
    operator = {
        "os_user": OS_USER,
        "sudo_user": "alice",
        "reason": REASON,
        "acting_as": "avail",
    }
    events = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq"))
    assert {"decision.approve", "operator.acted_as", "notice.sent"} <= {e.action for e in events}
    for event in events:
        assert event.data["operator"] == operator, event.action
    acted = next(e for e in events if e.action == "operator.acted_as")
    assert acted.data["flagged"] is True
    assert acted.actor == "avail"
    assert acted.object_id == str(request_.pk)
    assert acted.data["command"] == "request decide"
    assert acted.data["what"] == "decide approve as availability"
    assert acted.data["request_id"] == request_.pk and acted.data["outcome"] == "done"

    [notice] = mail.outbox
    assert notice.to == ["avail@example.test"]
    assert f"{OS_USER} (via sudo from alice) acted as you" in notice.subject
    for fact in (
        f"OS user {OS_USER} (via sudo from alice)",
        "decide approve as availability",
        f"#{request_.pk} http://",
        f"Reason:  {REASON}",
        "Outcome: done",
        f"event {acted.seq}",
        acted.created_at.astimezone().strftime("%Y-%m-%d"),
    ):
        assert fact in notice.body, fact
    assert "avail was notified by email" in out and err == ""


@pytest.mark.django_db(transaction=True)
def test_operator_mode_grants_nothing_and_the_refused_attempt_is_told(request_, operator_mode):
    with pytest.raises(CommandError, match=r"do not hold the .approve_availability. authority"):
        approve(request_, "--as", "ic", "--operator-reason", REASON)
    assert not Decision.objects.exists()
    acted = AuditEvent.objects.get(action="operator.acted_as")
    assert (
        acted.data["outcome"].startswith("refused: ")
        and "approve_availability" in (acted.data["outcome"])
    )
    [notice] = mail.outbox
    assert notice.to == ["ic@example.test"] and "Outcome: refused: " in notice.body


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_a_failing_notice_does_not_undo_the_act(request_, operator_mode, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port()
    settings.EMAIL_TIMEOUT = 2
    out, err = approve(request_, "--as", "avail", "--operator-reason", REASON)

    assert Decision.objects.get().actor.username == "avail"  # committed and kept
    assert "[pending]" in out or "missing:" in out
    failed = AuditEvent.objects.get(action="notice.failed")
    assert failed.data["flagged"] is True and failed.data["person"] == "avail"
    assert "ConnectionRefusedError" in failed.data["error"]
    assert not AuditEvent.objects.filter(action="notice.sent").exists()
    assert "avail was NOT notified (ConnectionRefusedError" in err


@pytest.mark.django_db(transaction=True)
def test_a_person_without_an_address_is_recorded_as_not_notified(request_, operator_mode):
    avail = user("avail")
    avail.email = ""
    avail.save()
    _, err = approve(request_, "--as", "avail", "--operator-reason", REASON)
    assert Decision.objects.get().actor == avail
    failed = AuditEvent.objects.get(action="notice.failed")
    assert failed.data["error"] == "the account has no email address"
    assert "NOT notified (the account has no email address)" in err


@pytest.mark.django_db(transaction=True)
def test_a_declare_names_the_new_request(zone_dir, operator_mode):
    seed_demo()
    run("declare", "checkout", "failover", "--reason", "EU down", "--as", "ic",
        "--operator-reason", REASON)  # fmt: skip
    request = FailoverRequest.objects.get()
    acted = AuditEvent.objects.get(action="operator.acted_as")
    assert acted.data["request_id"] == request.pk
    assert acted.data["what"] == "declare a failover of checkout to failover"
    assert AuditEvent.objects.get(action="request.declared").data["operator"]["reason"] == REASON
    assert f"on failover request #{request.pk}" in mail.outbox[0].subject


@pytest.mark.django_db
def test_the_demo_needs_no_reason_but_still_names_the_operator(request_, settings):
    settings.DEBUG = True
    settings.CLI_OPERATOR_MODE = False
    approve(request_, "--as", "avail")
    event = AuditEvent.objects.get(action="decision.approve")
    assert event.data["operator"]["os_user"] == OS_USER
    assert event.data["operator"]["reason"] == ""
    assert AuditEvent.objects.get(action="operator.acted_as").data["flagged"] is True


@pytest.mark.django_db
def test_list_and_show_need_no_one_to_act_for(request_, settings):
    settings.DEBUG = False
    settings.CLI_OPERATOR_MODE = False
    before = last_seq()
    assert f"#{request_.pk}" in run("list")[0]
    assert "missing: availability (0/1)" in run("show", str(request_.pk))[0]
    with pytest.raises(CommandError, match="unrecognized arguments: --as"):
        run("show", str(request_.pk), "--as", "avail")
    assert last_seq() == before
