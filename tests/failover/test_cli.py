import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from failover.models import FailoverRequest

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    from io import StringIO

    from django.test import override_settings

    out = StringIO()
    with override_settings(DEBUG=True):  # --as is the demo's (or operator mode's): tests/identity
        call_command("request", *args, stdout=out)
    return out.getvalue()


def test_a_demo_failover_from_the_command_line(zone_dir):
    call_command("seed_demo")
    out = run(
        "declare",
        "checkout",
        "failover",
        "--reason",
        "EU down",
        "--incident",
        "INC-7",
        "--as",
        "ic",
    )
    assert "missing: availability (0/1), identity (0/1), incident_response (0/1)" in out
    assert "identity provider changes" in out
    request = FailoverRequest.objects.get()
    with pytest.raises(CommandError, match=r"do not hold the .approve_availability. authority"):
        run("decide", str(request.pk), "approve", "--role", "availability", "--as", "ic")
    run("decide", str(request.pk), "approve", "--role", "availability", "--as", "avail")
    run("decide", str(request.pk), "approve", "--role", "identity", "--as", "identity")
    out = run("decide", str(request.pk), "sign_off", "--role", "incident_response", "--as", "ir")
    assert "[executing]" in out  # checkout's policy executes on the last approval
    assert request.decisions.get(actor__username="ir").channel == "cli"
    with pytest.raises(CommandError, match="say who is acting"):
        run("execute", str(request.pk))
    with pytest.raises(CommandError, match="no failover request 999"):
        run("show", "999")


def test_service_account_and_grant_commands():
    from approvals.models import ServiceAccount
    from audit.models import AuditEvent
    from failover.chain import holds
    from failover.models import Service

    call_command("seed_demo")
    call_command("create_service_account", "alertmanager-bot", "--description", "paging")
    account = ServiceAccount.objects.get().user
    assert not account.has_usable_password()
    checkout = Service.objects.get(slug="checkout")
    call_command("grant_authority", "checkout", "declare", "--user", "alertmanager-bot")
    assert holds(account, checkout, "declare")
    assert AuditEvent.objects.filter(action="authority.granted", data__user="alertmanager-bot")
    call_command("grant_authority", "checkout", "declare", "--user", "alertmanager-bot", "--revoke")
    assert not holds(account, checkout, "declare")
    with pytest.raises(CommandError, match="unknown authority"):
        call_command("grant_authority", "checkout", "godmode", "--group", "Executors")


def test_break_glass_from_the_command_line(zone_dir):
    from approvals.models import BreakGlass

    call_command("seed_demo")
    run("declare", "checkout", "failover", "--reason", "EU down", "--as", "ic")
    request = FailoverRequest.objects.get()
    run("decide", str(request.pk), "veto", "--comment", "EU sessions break", "--as", "identity")
    with pytest.raises(CommandError, match="at least 20"):
        run("break-glass", str(request.pk), "--justification", "now", "--as", "ic")
    with pytest.raises(CommandError, match="veto of identity"):
        run(
            "break-glass",
            str(request.pk),
            "--justification",
            "checkout down everywhere, approvers unreachable",
            "--as",
            "ic",
        )
    assert not BreakGlass.objects.exists()
    out = run(
        "break-glass",
        str(request.pk),
        "--justification",
        "checkout down everywhere, approvers unreachable",
        "--veto-justification",
        "identity's concern about EU sessions is accepted for the outage",
        "--as",
        "ic",
    )
    use = BreakGlass.objects.get()
    assert f"break-glass #{use.pk}: went without availability, identity" in out
    assert "[executing]" in out


@pytest.mark.parametrize(
    "criteria", ["[" * 50_000 + "]" * 50_000, '{"n": ' + "9" * 5000 + "}", "[1]", "{nope"]
)
def test_rollback_criteria_the_api_would_refuse_are_a_clear_error(criteria, zone_dir):
    call_command("seed_demo")
    with pytest.raises(CommandError, match="--rollback-criteria"):
        run(
            "declare", "checkout", "failover", "--reason", "x", "--as", "ic",
            "--rollback-criteria", criteria,
        )  # fmt: skip
    assert not FailoverRequest.objects.exists()
