"""A service with every persona, a pending request on it, and the helpers to act on it."""

from __future__ import annotations

import pytest

from approvals.breakglass import break_glass
from approvals.services import record_decision
from dnsproviders import executor
from dnsproviders.models import DnsChange
from failover.services import declare_request
from tests.factories import user

JUSTIFICATION = "identity lead unreachable for 30 min while EU checkout is down"


@pytest.fixture
def pending(service, people):
    return declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu-west-1 down"
    )


def use(request, who="breakglass", justification=JUSTIFICATION, **kw):
    return break_glass(actor=user(who), request_id=request.pk, justification=justification, **kw)


def veto(request, who="vetoer", comment="the US identity provider rejects EU sessions"):
    return record_decision(actor=user(who), request_id=request.pk, kind="veto", comment=comment)


def run_worker(request) -> None:
    """Drive the request's DNS changes to an outcome, as a worker would."""
    for _ in range(50):
        open_changes = DnsChange.objects.filter(request=request).exclude(
            status__in=("verified", "failed")
        )
        if not open_changes.exists():
            return
        for change in open_changes:
            if change.status in ("queued", "submitting"):
                executor.apply_change(change.pk)
            else:
                executor.poll_change(change.pk)
    raise AssertionError("changes did not settle")
