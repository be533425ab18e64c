"""One spec per decision kind: what the services enforce and the doors show is what it says."""

import pytest

from approvals.kinds import COUNTING_KINDS, KINDS, STEP_UP_ACTS, kind_for_role, past_tense
from approvals.models import Decision
from approvals.services import record_decision
from audit.actions import ACTIONS, decision_action
from failover.authorities import ROLE_AUTHORITY, STEP_UP_OTHER_ACTS
from failover.errors import InvalidInput
from failover.services import declare_request
from failover.web.actions import Action

pytestmark = pytest.mark.django_db


def test_every_kind_of_the_choices_has_its_spec_and_label():
    assert list(KINDS) == list(Decision.Kind.values)
    for kind in Decision.Kind:
        assert KINDS[kind].kind == kind.value
        assert KINDS[kind].label == kind.label
        assert decision_action(kind) in ACTIONS  # its audit event is a known action


def test_step_up_is_asked_for_exactly_the_kinds_whose_spec_says_so():
    asked = {k for k in KINDS if k in STEP_UP_ACTS}
    assert asked == {k for k, spec in KINDS.items() if spec.needs_step_up}
    assert STEP_UP_ACTS - set(KINDS) == STEP_UP_OTHER_ACTS
    assert "reject" not in STEP_UP_ACTS  # it moves no traffic and unblocks nothing


def test_each_role_gives_one_counting_kind():
    assert COUNTING_KINDS == ("approve", "sign_off")
    for role in ROLE_AUTHORITY:
        assert role in KINDS[kind_for_role(role)].roles
    assert past_tense("sign_off") == "signed off"
    assert past_tense("gone_kind") == "gone_kind"  # an old event's kind is shown as it is


@pytest.fixture
def request_(service, people):
    return declare_request(
        actor=people["declarer"], service=service, target="failover", reason="eu-west-1 down"
    )


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_service_asks_for_the_role_and_reason_the_spec_names(kind, people, request_):
    spec = KINDS[kind]
    with pytest.raises(InvalidInput) as refused:
        record_decision(
            actor=people["avail"],
            request_id=request_.pk,
            kind=kind,
            role="no_such_role",
            plan_hash=request_.plan_hash,
            channel="pigeon",  # always refused, so every kind stops at the input check
        )
    fields = refused.value.fields
    assert ("role" in fields) == spec.needs_role
    assert fields.get("role", "") == (
        f"{kind} takes a role of {', '.join(spec.roles)}" if spec.needs_role else ""
    )
    assert (fields.get("comment") == f"a {kind} needs a reason") == spec.needs_comment
    assert not Decision.objects.exists()


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_page_button_reads_the_spec(kind):
    action = Action(kind, "label", "availability")
    spec = KINDS[kind]
    assert action.step_up == spec.needs_step_up
    assert action.binds_plan == spec.binds_plan
    assert action.confirm == spec.confirm
    assert action.verb == (spec.verb if spec.binds_plan else "")
    executing = Action(kind, "label", "availability", executes=True)
    assert executing.confirm.endswith("and execute now") == spec.counts
