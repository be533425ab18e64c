"""The message formats and the signature, as plain data (no database)."""

import pytest

from failover.notify import payloads
from failover.notify.receivers import events_for

REQUEST = {
    "id": 7,
    "state": "pending",
    "from_target": "primary",
    "to_target": "failover",
    "segment": "",
    "reason": "eu-west-1 down <!channel> & more",
    "incident_ref": "INC-42",
    "plan_hash": "ab" * 32,
    "missing": [{"role": "identity", "needed": 1, "have": 0, "holders": ["identity"]}],
    "blocked_by": ["vetoed by vetoer: <@U123> cert chain untested"],
}


def body(event="declared", **details):
    return payloads.generic_body(
        event=event,
        occurred_at="2025-01-01T00:00:00+00:00",
        actor="declarer",
        service="shop",
        request=REQUEST,
        details=details,
        url=payloads.request_url("https://failover.example.test/", 7, event),
    )


@pytest.mark.parametrize(
    ("action", "data", "events"),
    [
        ("request.declared", {}, ("declared", "approval_missing")),
        ("decision.veto", {"comment": "no"}, ("vetoed",)),
        ("decision.approve", {}, ()),
        ("decision.lift_veto", {}, ()),
        ("request.state_changed", {"from": "pending", "to": "approved"}, ("approved",)),
        ("request.state_changed", {"from": "approved", "to": "pending"}, ("approval_missing",)),
        ("request.state_changed", {"from": "approved", "to": "executing"}, ()),
        ("request.state_changed", {"from": "executing", "to": "applied"}, ("applied",)),
        ("request.state_changed", {"from": "executing", "to": "failed"}, ("failed",)),
        ("request.state_changed", {"from": "rolling_back", "to": "rolled_back"}, ("rolled_back",)),
        ("request.state_changed", {"from": "pending", "to": "cancelled"}, ()),
        ("rollback.proposed", {}, ("rollback_due",)),
        ("rollback.deadline_passed", {}, ("rollback_due",)),
        ("rollback.checked", {}, ()),
    ],
)
def test_audit_actions_map_to_events(action, data, events):
    assert events_for(action, data) == events


def test_links_point_at_the_request_page_with_a_hint_of_what_to_do():
    assert payloads.request_url("https://x.test/", 7, "declared") == "https://x.test/requests/7/"
    assert payloads.request_url("https://x.test", 7, "approval_missing").endswith(
        "/requests/7/?action=approve"
    )


def test_the_signature_verifies_with_the_secret_and_only_over_the_same_body():
    raw = b'{"event":"declared"}'
    signature = payloads.sign("s3cret-key", "1700000000", raw)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert payloads.verify("s3cret-key", "1700000000", raw, signature)
    assert not payloads.verify("s3cret-key", "1700000001", raw, signature)
    assert not payloads.verify("s3cret-key", "1700000000", raw + b" ", signature)
    assert not payloads.verify("other-key", "1700000000", raw, signature)


def test_the_generic_body_carries_the_request_and_a_readable_summary():
    b = body()
    assert b["event"] == "declared" and b["service"] == "shop"
    assert b["request"]["missing"][0]["holders"] == ["identity"]
    assert b["summary"].startswith("[shop] Failover #7 (primary → failover) declared by declarer")
    assert b["url"] == "https://failover.example.test/requests/7/"


def test_slack_text_and_blocks_escape_user_text_so_it_cannot_ping_the_channel():
    message = payloads.slack_body(body("vetoed", comment="<!here> stop"))
    assert "vetoed by declarer" in message["text"]
    assert "<https://failover.example.test/requests/7/|Open request #7>" in message["text"]
    rendered = str(message["blocks"])
    assert "<!channel>" not in rendered and "&lt;!channel&gt;" in rendered
    assert "<!here>" not in message["text"] and "<@U123>" not in rendered
    assert [b["type"] for b in message["blocks"]] == ["section", "section", "section"]
    labels = [f["text"].split("\n")[0] for f in message["blocks"][1]["fields"]]
    assert labels == [
        "*Service*",
        "*State*",
        "*Move*",
        "*Incident*",
        "*Still missing*",
        "*Blocked by*",
    ]


def test_long_reasons_are_cut():
    long = dict(REQUEST, reason="x" * 5000)
    line = payloads.summary("declared", "shop", "declarer", long, {})
    assert len(line) < 400 and line.endswith("…")
