"""The authorisation matrix, generated: every authority against every action, and every kind of
caller against each action's own authority, through the REST API and the browser views. Each
cell asserts the exact status and that a refusal changed nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.models import Decision
from approvals.tokens import create_token, revoke_token
from failover.authorities import AUTHORITIES
from failover.models import FailoverRequest
from failover.rollback import DEFAULTS
from tests.authz import world
from tests.factories import user

pytestmark = pytest.mark.django_db

JUSTIFICATION = "approvers unreachable during the regional outage, customers are down"


@dataclass(frozen=True)
class Action:
    name: str
    state: str  # the request the action is tried on (world.SETUPS)
    allowed: frozenset[str]  # authorities that permit it; all of them for "read"
    scope: str  # the API token action it needs
    api_ok: int
    web_ok: int

    def api(self, client: APIClient, request):
        base = f"/api/v1/failover-requests/{request.pk}/" if request else ""
        decision = DECISIONS.get(self.name)
        if decision is not None:
            body = {**decision, "plan_hash": request.plan_hash, "comment": "matrix"}
            if self.name == "lift_veto":
                body = {"kind": "lift_veto", "veto_id": veto_of(request), "comment": "matrix"}
            return client.post(base + "decisions/", body, format="json")
        return {
            "declare": lambda: client.post(
                "/api/v1/failover-requests/",
                {"service": world.SLUG, "target": "failover", "reason": "matrix"},
                format="json",
            ),
            "execute": lambda: client.post(base + "execute/"),
            "rollback": lambda: client.post(base + "rollback/", {"reason": "m"}, format="json"),
            "cancel": lambda: client.post(base + "cancel/", {"reason": "m"}, format="json"),
            "break_glass": lambda: client.post(
                base + "break-glass/",
                {"justification": JUSTIFICATION, "plan_hash": request.plan_hash},
                format="json",
            ),
            "read_request": lambda: client.get(base),
            "read_audit": lambda: client.get("/api/v1/audit-events/"),
        }[self.name]()

    def web(self, client: Client, request):
        page = f"/requests/{request.pk}/" if request else ""
        secret = {"password": world.PASSWORD}
        decision = DECISIONS.get(self.name)
        if decision is not None:
            form = {**decision, "plan_hash": request.plan_hash, "comment": "matrix", **secret}
            if self.name == "lift_veto":
                form = {"kind": "lift_veto", "veto_id": veto_of(request), "comment": "matrix"}
            return client.post(page, form)
        return {
            "declare": lambda: client.post(
                "/declare/",
                {"destination": f"{world.SLUG}/failover", "reason": "matrix", **DEFAULTS},
            ),
            "execute": lambda: client.post(
                page, {"kind": "execute", "plan_hash": request.plan_hash, **secret}
            ),
            "rollback": lambda: client.post(page, {"kind": "rollback", "comment": "m", **secret}),
            "cancel": lambda: client.post(page, {"kind": "cancel", "comment": "m"}),
            "break_glass": lambda: client.post(
                f"/requests/{request.pk}/break-glass/",
                {"justification": JUSTIFICATION, "plan_hash": request.plan_hash, **secret},
            ),
            "read_request": lambda: client.get(page),
            "read_audit": lambda: client.get("/admin/audit/auditevent/"),
        }[self.name]()


DECISIONS = {
    "approve_availability": {"kind": "approve", "role": "availability"},
    "approve_identity": {"kind": "approve", "role": "identity"},
    "sign_off_incident_response": {"kind": "sign_off", "role": "incident_response"},
    "sign_off_comms": {"kind": "sign_off", "role": "comms"},
    "reject": {"kind": "reject", "role": "availability"},
    "veto": {"kind": "veto"},
    "lift_veto": {"kind": "lift_veto"},
}


def one(authority: str) -> frozenset[str]:
    return frozenset({authority})


ACTIONS = [
    Action("declare", "none", one("declare"), "declare", 201, 302),
    Action("approve_availability", "pending", one("approve_availability"), "decide", 201, 302),
    Action("approve_identity", "pending", one("approve_identity"), "decide", 201, 302),
    Action(
        "sign_off_incident_response",
        "pending",
        one("sign_off_incident_response"),
        "decide",
        201,
        302,
    ),
    Action("sign_off_comms", "pending", one("sign_off_comms"), "decide", 201, 302),
    Action("reject", "pending", one("approve_availability"), "decide", 201, 302),
    Action("veto", "pending", one("veto"), "decide", 201, 302),
    Action("lift_veto", "vetoed", one("veto"), "decide", 201, 302),
    Action("execute", "approved", one("execute"), "execute", 200, 302),
    Action("rollback", "applied", one("rollback"), "rollback", 200, 302),
    Action("cancel", "pending", one("declare"), "cancel", 200, 302),
    Action("break_glass", "pending", one("break_glass"), "execute", 201, 302),
    Action("read_request", "pending", frozenset(AUTHORITIES), "read", 200, 200),
    Action("read_audit", "pending", frozenset(), "audit", 200, 200),
]
BY_NAME = {a.name: a for a in ACTIONS}


def veto_of(request) -> int:
    return Decision.objects.get(request=request, kind="veto", lifts__isnull=True).pk


def fingerprint(request):
    """What an action could change: the request's state and decisions, and the requests."""
    state = None
    decisions = 0
    if request is not None:
        state = FailoverRequest.objects.get(pk=request.pk).state
        decisions = Decision.objects.filter(request=request).count()
    return state, decisions, FailoverRequest.objects.count()


def api_refusal(action: Action, visible: bool) -> int:
    if action.name == "read_audit":
        return 403
    return 403 if visible else 404


def web_refusal(action: Action, visible: bool) -> int:
    if action.name == "declare":
        return 400  # the service is not among the viewer's choices
    if action.name == "read_audit":
        return 302  # the admin sends non-staff to its sign-in page
    return 403 if visible else 404


def api_as(name: str, **scope) -> APIClient:
    client = APIClient()
    _, plain = create_token(user=user(name), name="matrix", **scope)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


def web_as(name: str) -> Client:
    client = Client()
    client.force_login(user(name))
    return client


def check(action: Action, door: str, caller: str, response, expected: int, before) -> None:
    where = f"{action.name} via {door} as {caller}"
    assert response.status_code == expected, (where, response.status_code, response.content[:300])
    if expected >= 400:
        assert fingerprint(before[0]) == before[1], f"{where}: a refusal changed something"


# --- every authority x every action ------------------------------------------------------


@pytest.mark.parametrize("door", ["api", "web"])
@pytest.mark.parametrize("authority", sorted(AUTHORITIES))
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_each_authority_may_do_exactly_its_actions(action, authority, door):
    setup = world.setup(action.state)
    caller = f"h_{authority}"
    client = api_as(caller) if door == "api" else web_as(caller)
    before = (setup.request, fingerprint(setup.request))
    response = getattr(action, door)(client, setup.request)
    if authority in action.allowed:
        expected = action.api_ok if door == "api" else action.web_ok
    elif door == "api":
        expected = api_refusal(action, visible=True)
    else:
        expected = web_refusal(action, visible=True)
    check(action, door, caller, response, expected, before)


# --- every kind of caller x each action's own authority ---------------------------------------

CALLERS = ["group_member", "removed_member", "other_service", "outsider"]
TOKENS = ["in_scope", "out_of_scope", "expired", "revoked", "scoped_to_other_service"]


def holder_of(action: Action) -> str:
    return "auditor" if action.name == "read_audit" else f"h_{min(action.allowed)}"


def authority_of(action: Action) -> str:
    return min(action.allowed) if action.allowed else ""


def make_auditor():
    auditor = world.person("auditor")
    auditor.is_staff = True
    auditor.save(update_fields=["is_staff"])
    auditor.user_permissions.add(Permission.objects.get(codename="view_auditevent"))


@pytest.mark.parametrize("door", ["api", "web"])
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_only_current_holders_on_this_service_may_act(action, caller, door):
    setup = world.setup(action.state)
    make_auditor()
    authority = authority_of(action)
    name = {
        "group_member": f"g_{authority}",
        "removed_member": f"x_{authority}",
        "other_service": "other",
        "outsider": "outsider",
    }[caller]
    if action.name == "read_audit" and caller == "group_member":
        name = "auditor"  # the audit log is read by permission, not by a service authority
    client = api_as(name) if door == "api" else web_as(name)
    before = (setup.request, fingerprint(setup.request))
    response = getattr(action, door)(client, setup.request)
    if caller == "group_member":
        expected = action.api_ok if door == "api" else action.web_ok
    elif door == "api":
        expected = api_refusal(action, visible=False)
    else:
        expected = web_refusal(action, visible=False)
    check(action, door, name, response, expected, before)


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_api_tokens_act_only_within_scope_and_lifetime(action, token):
    setup = world.setup(action.state)
    make_auditor()
    name = holder_of(action)
    if token == "in_scope":
        client = api_as(name, actions=[action.scope])
    elif token == "out_of_scope":
        other = "read" if action.scope != "read" else "declare"
        client = api_as(name, actions=[other])
    elif token == "scoped_to_other_service":
        from failover.models import Service

        client = api_as(name, services=[Service.objects.get(slug="elsewhere")])
    else:
        record, plain = create_token(user=user(name), name="matrix")
        if token == "expired":
            record.expires_at = timezone.now() - timedelta(seconds=1)
            record.save(update_fields=["expires_at"])
        else:
            revoke_token(token=record, actor=None)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    before = (setup.request, fingerprint(setup.request))
    response = action.api(client, setup.request)
    expected = {
        "in_scope": action.api_ok,
        "out_of_scope": 403,
        "expired": 401,
        "revoked": 401,
        # The audit log is not a service's: a service-scoped token of an auditor reads it.
        "scoped_to_other_service": 200 if action.name == "read_audit" else 404,
    }[token]
    check(action, "api", f"{name} ({token} token)", response, expected, before)


def test_the_matrix_covers_every_action_and_authority():
    assert {a.name for a in ACTIONS} >= {
        "declare",
        "approve_availability",
        "approve_identity",
        "veto",
        "lift_veto",
        "sign_off_incident_response",
        "sign_off_comms",
        "reject",
        "execute",
        "rollback",
        "cancel",
        "break_glass",
        "read_request",
        "read_audit",
    }
