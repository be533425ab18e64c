"""A service with every persona, a pending request on it, and the helpers to act on it."""

from __future__ import annotations

import pytest

from approvals.breakglass import break_glass
from approvals.services import record_decision
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
