"""The audit log records only the actions audit/actions.py names."""

import re
from pathlib import Path

import pytest

from approvals.models import Decision
from audit.actions import ACTIONS, DECISIONS, decision_action
from audit.models import AuditEvent
from audit.services import record_event

ROOT = Path(__file__).resolve().parents[2]
APPS = ("approvals", "audit", "dnsproviders", "failover", "identity")
# An action written as a string: `action="x.y"`, `else "x.y"` after one, or a DNS change's
# event handed to the executor's helpers.
LITERAL = re.compile(r'action="([a-z_]+\.[a-z_]+)"')
ELSE = re.compile(r'action=[^\n]* else "([a-z_]+\.[a-z_]+)"')
DNS = re.compile(r'"(dns\.[a-z_]+)"')
# Actions built at run time, each with every value it can take.
BUILT = {
    'action=f"group.member_{verb}"': {"group.member_added", "group.member_removed"},
    "action=decision_action(decision.kind)": {decision_action(k) for k in Decision.Kind.values},
}


def product_sources():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, path.read_text()


def test_a_made_up_action_is_refused_and_nothing_is_written(db):
    with pytest.raises(ValueError, match=r"unknown audit action 'request\.declard'"):
        record_event(action="request.declard", object_type="x", object_id="1")
    assert not AuditEvent.objects.exists()
    assert record_event(action="request.declared", object_type="x", object_id="1").seq == 1


def test_every_action_the_code_records_is_in_the_registry():
    used, built = set(), set()
    for path, text in product_sources():
        used |= set(LITERAL.findall(text)) | set(ELSE.findall(text))
        if path.name == "executor.py":
            used |= set(DNS.findall(text))
        for site, values in BUILT.items():
            if site in text:
                built |= values
        # Any other action built at run time must be listed in BUILT with its values.
        for site in re.findall(r"action=f\"[^\"]*\"|action=decision_action\([^)]*\)", text):
            assert site in BUILT, f"{path}: list the values of {site} in BUILT"
    assert {"identity.signed_in", "authority.granted"} <= used  # the scan finds literals
    assert used - ACTIONS == set()
    assert built - ACTIONS == set()


def test_every_decision_kind_has_its_action():
    assert {decision_action(k) for k in Decision.Kind.values} == DECISIONS
