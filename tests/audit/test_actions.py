"""The audit log records only the actions audit/actions.py names, and the product names them
through its constants: a string written at a call site is where a misspelling would hide."""

import ast
from pathlib import Path

import pytest

from approvals.models import Decision
from audit.actions import (
    ACTIONS,
    DECISION_APPROVE,
    DECISION_VOIDED,
    DECISIONS,
    DNS_SUBMITTED,
    REQUEST_DECLARED,
    decision_action,
    decision_kind,
    dns_step,
)
from audit.models import AuditEvent
from audit.services import record_event

ROOT = Path(__file__).resolve().parents[2]
APPS = ("approvals", "audit", "dnsproviders", "failover", "identity")
REGISTRY = ROOT / "audit" / "actions.py"
# Synthetic seed data for the demo's scale runs, not the product (as in pyproject's ruff rules).
DEMO = ROOT / "failover" / "demo"


def product_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts and not path.is_relative_to(DEMO):
                yield path, ast.parse(path.read_text(), filename=str(path))


def _outcomes(expr: ast.expr):
    """The expressions `expr` can evaluate to: both arms of `a if c else b`, each of `a or b`."""
    if isinstance(expr, ast.IfExp):
        yield from _outcomes(expr.body)
        yield from _outcomes(expr.orelse)
    elif isinstance(expr, ast.BoolOp):
        for value in expr.values:
            yield from _outcomes(value)
    else:
        yield expr


def _written_out(expr: ast.expr) -> bool:
    """An action spelled at the call site: a string, an f-string, or one glued or formatted
    from strings. A name or a call (`decision_action(d.kind)`) is not."""
    if isinstance(expr, ast.Call | ast.Name | ast.Attribute):
        return False
    return any(
        isinstance(node, ast.JoinedStr)
        or (isinstance(node, ast.Constant) and isinstance(node.value, str))
        for node in ast.walk(expr)
    )


def literal_actions(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, source) of each `record_event(action=...)` in `tree` that spells its action."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name != "record_event":
            continue
        for keyword in node.keywords:
            if keyword.arg == "action":
                found += [
                    (o.lineno, ast.unparse(o)) for o in _outcomes(keyword.value) if _written_out(o)
                ]
    return found


def test_a_made_up_action_is_refused_and_nothing_is_written(db):
    with pytest.raises(ValueError, match=r"unknown audit action 'request\.declard'"):
        record_event(action="request.declard", object_type="x", object_id="1")
    assert not AuditEvent.objects.exists()
    assert record_event(action="request.declared", object_type="x", object_id="1").seq == 1


def test_the_scan_sees_a_spelt_action_in_every_form():
    source = """
record_event(action="request.declared")
audit.services.record_event(action=f"group.member_{verb}", obj=x)
record_event(action=REQUEST_DECLARED if new else "config.changed")
record_event(action="decision." + kind)
record_event(action=REQUEST_DECLARED)
record_event(action=CONFIG_CHANGED if change else CONFIG_CREATED)
record_event(action=decision_action(decision.kind))
parser.add_argument("--all", action="store_true")
"""
    assert [line for line, _ in literal_actions(ast.parse(source))] == [2, 3, 4, 5]


def test_no_product_module_spells_an_action_to_record_event():
    spelt = [
        f"{path.relative_to(ROOT)}:{line}: action={source}"
        for path, tree in product_modules()
        for line, source in literal_actions(tree)
    ]
    assert spelt == [], "use the constants of audit/actions.py:\n" + "\n".join(spelt)


def test_no_product_module_compares_with_a_spelt_action():
    # `action == "request.declared"`, a dict keyed by action names, a query on one: a name
    # written anywhere but in the registry drifts from it unseen.
    spelt = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for path, tree in product_modules()
        if path != REGISTRY
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in ACTIONS
    ]
    assert spelt == [], "use the constants of audit/actions.py:\n" + "\n".join(spelt)


def test_every_decision_kind_has_its_action():
    assert {decision_action(k) for k in Decision.Kind.values} == DECISIONS


def test_an_action_is_read_back_into_its_kind_or_step():
    assert decision_kind(DECISION_APPROVE) == "approve"
    assert decision_kind(DECISION_VOIDED) == "voided"
    assert decision_kind(REQUEST_DECLARED) is None
    assert dns_step(DNS_SUBMITTED) == "submitted"
    assert dns_step(DECISION_APPROVE) is None
    assert {decision_kind(a) for a in DECISIONS} == set(Decision.Kind.values)
