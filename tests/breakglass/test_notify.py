"""Break-glass is announced through the outbound notifications to the channels of the people
whose approval it skipped, in the transaction that breaks the glass."""

from __future__ import annotations

import pytest

from failover.errors import InvalidInput
from failover.models import Service
from failover.notify.models import Notification
from failover.notify.receivers import events_for
from failover.secrets import encrypt
from tests.breakglass.conftest import JUSTIFICATION, use, veto
from tests.notify.conftest import new_endpoint

pytestmark = pytest.mark.django_db


def endpoint(service, name, events=(), fmt="generic"):
    return new_endpoint(
        service,
        name,
        f"https://hooks.example.test/{name}",
        format=fmt,
        secret=encrypt("s" * 32) if fmt == "generic" else "",
        events=list(events),
    )


def announced(ep) -> list[dict]:
    rows = Notification.objects.filter(endpoint=ep, event="break_glass")
    return [row.payload["body"] for row in rows]


def test_the_audit_action_maps_to_the_event():
    assert events_for("break_glass.used", {}) == ("break_glass",)
    assert events_for("break_glass.reviewed", {}) == ()


def test_break_glass_is_announced_naming_the_skipped_approvers(pending, service):
    every = endpoint(service, "every")
    approvers = endpoint(service, "approvers", events=["approval_missing"])
    explicit = endpoint(service, "explicit", events=["break_glass"])
    declared_only = endpoint(service, "declared-only", events=["declared"])
    foreign = endpoint(Service.objects.get(slug="elsewhere"), "foreign")
    veto(pending)
    used = use(pending, veto_justification="vetoer: accepted by the IC")
    for ep in (every, approvers, explicit):
        (body,) = announced(ep)
    assert announced(declared_only) == [] == announced(foreign)
    body = announced(every)[0]
    assert body["event"] == "break_glass" and body["actor"] == "breakglass"
    details = body["details"]
    assert details["break_glass_id"] == used.pk
    assert details["justification"] == JUSTIFICATION
    assert details["skipped"] == [
        {"role": "availability", "holders": ["avail", "avail2"]},
        {"role": "identity", "holders": ["identity", "identity2"]},
        {"role": "incident_response", "holders": ["ir"]},
    ]
    assert [o["kind"] for o in details["overridden"]] == ["veto"]
    assert "BREAK-GLASS by breakglass" in body["summary"]
    assert "identity (identity, identity2)" in body["summary"]
    # The request as it stood when the glass was broken: what was missing, who vetoed.
    assert body["request"]["state"] == "pending"
    assert any("vetoed by vetoer" in b for b in body["request"]["blocked_by"])


def test_the_slack_message_carries_the_justifications(pending, service):
    slack = endpoint(service, "slack", fmt="slack")
    veto(pending)
    use(pending, veto_justification="vetoer: accepted by the IC <!channel>")
    (body,) = announced(slack)
    text = str(body["blocks"])
    assert JUSTIFICATION in text and "accepted by the IC &lt;!channel&gt;" in text
    assert "<!channel>" not in text


def test_a_refused_break_glass_announces_nothing(pending, service):
    every = endpoint(service, "every")
    veto(pending)
    with pytest.raises(InvalidInput):
        use(pending)
    assert announced(every) == []
