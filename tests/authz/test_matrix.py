"""The authorisation matrix, generated: every authority against every action, every kind of
caller against each action's own authority (REST API and browser views), and every API route
(read from the URL resolver) against every token scope. Each cell asserts the exact status
and that a refusal changed nothing.

The world is built once for the module; every cell runs in a savepoint rolled back after it,
so the cells are independent and the file stays fast."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client, override_settings
from django.urls import get_resolver
from django.urls.resolvers import URLResolver
from django.utils import timezone
from rest_framework.test import APIClient

from approvals.models import ApiToken, BreakGlass, BreakGlassReview, Decision, IdempotencyKey
from approvals.readiness.models import ReadinessCheck, SecretAttestation
from approvals.tokens import revoke_token
from audit.models import AuditEvent, Verification
from failover.authorities import AUTHORITIES
from failover.models import FailoverRequest, Service
from failover.rollback import DEFAULTS
from tests.authz import world
from tests.factories import user
from tests.tokens import personal_token

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def zones(tmp_path_factory):
    return tmp_path_factory.mktemp("zones")


@pytest.fixture(autouse=True)
def module_zones(zones, settings):
    """Every cell reads the zone files the world was built with."""
    settings.DNS_ZONE_DIR = zones


@pytest.fixture(scope="module")
def built(django_db_setup, django_db_blocker, zones):
    """The world, inside one transaction rolled back when the module ends (what Django's
    setUpTestData does for a class)."""
    with django_db_blocker.unblock(), override_settings(DNS_ZONE_DIR=zones):
        outer = transaction.atomic()
        outer.__enter__()
        outer._from_testcase = True  # services' durable blocks nest in it as in a TestCase
        try:
            yield world.build()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@contextmanager
def cell():
    """One cell: everything it does is rolled back, and no counter in the cache survives."""
    cache.clear()
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def snapshot():
    """What any act could change: every request's state, the decisions, break-glass reviews,
    attestations, lifted checks, services, and the audit log (every change writes to it)."""
    return (
        AuditEvent.objects.count(),
        tuple(FailoverRequest.objects.order_by("pk").values_list("pk", "state")),
        Decision.objects.count(),
        Service.objects.count(),
        BreakGlass.objects.count(),
        BreakGlassReview.objects.count(),
        SecretAttestation.objects.count(),
        ReadinessCheck.objects.filter(lifted_at__isnull=False).count(),
    )


def api_as(name: str, **scope) -> APIClient:
    client = APIClient()
    _, plain = personal_token(user(name), name="matrix", **scope)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


def web_as(name: str) -> Client:
    client = Client()
    client.force_login(user(name))
    return client


class Mismatches(list):
    def check(self, where: str, response, expected: int, before) -> None:
        if response.status_code != expected:
            body = getattr(response, "content", b"")[:200]
            self.append(f"{where}: {response.status_code} != {expected} {body!r}")
        elif expected >= 400 and snapshot() != before:
            self.append(f"{where}: the refusal ({expected}) changed something")

    def done(self) -> None:
        assert not self, "\n".join(self)


# --- actions: every authority x every action, every caller x its authority -------------------


@dataclass(frozen=True)
class Action:
    name: str
    state: str  # the request the action is tried on (world.SETUPS)
    allowed: frozenset[str]  # authorities that permit it; all of them for "read"
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
                {"justification": world.JUSTIFICATION, "plan_hash": request.plan_hash},
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
                form.update(secret)
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
                {"justification": world.JUSTIFICATION, "plan_hash": request.plan_hash, **secret},
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
    Action("declare", "none", one("declare"), 201, 302),
    Action("approve_availability", "pending", one("approve_availability"), 201, 302),
    Action("approve_identity", "pending", one("approve_identity"), 201, 302),
    Action("sign_off_incident_response", "pending", one("sign_off_incident_response"), 201, 302),
    Action("sign_off_comms", "pending", one("sign_off_comms"), 201, 302),
    Action("reject", "pending", one("approve_availability"), 201, 302),
    Action("veto", "pending", one("veto"), 201, 302),
    Action("lift_veto", "vetoed", one("veto"), 201, 302),
    Action("execute", "approved", one("execute"), 200, 302),
    Action("rollback", "applied", one("rollback"), 200, 302),
    Action("cancel", "pending", one("declare"), 200, 302),
    Action("break_glass", "pending", one("break_glass"), 201, 302),
    Action("read_request", "pending", frozenset(AUTHORITIES), 200, 200),
    Action("read_audit", "pending", frozenset(), 200, 200),
]


def veto_of(request) -> int:
    return Decision.objects.get(request=request, kind="veto", lifts__isnull=True).pk


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


@pytest.mark.parametrize("door", ["api", "web"])
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_each_authority_may_do_exactly_its_actions(built, action, door):
    request = built[action.state].request
    found = Mismatches()
    for authority in sorted(AUTHORITIES):
        with cell():
            caller = f"h_{authority}"
            client = api_as(caller) if door == "api" else web_as(caller)
            before = snapshot()
            response = getattr(action, door)(client, request)
            if authority in action.allowed:
                expected = action.api_ok if door == "api" else action.web_ok
            elif door == "api":
                expected = api_refusal(action, visible=True)
            else:
                expected = web_refusal(action, visible=True)
            found.check(f"{action.name} via {door} as {caller}", response, expected, before)
    found.done()


CALLERS = ["group_member", "removed_member", "other_service", "outsider"]


def caller_name(action: Action, caller: str) -> str:
    if action.name == "read_audit" and caller == "group_member":
        return "auditor"  # the audit log is read by permission, not by a service authority
    authority = min(action.allowed) if action.allowed else ""
    return {
        "group_member": f"g_{authority}",
        "removed_member": f"x_{authority}",
        "other_service": "other",
        "outsider": "outsider",
    }[caller]


@pytest.mark.parametrize("door", ["api", "web"])
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_only_current_holders_on_this_service_may_act(built, action, door):
    request = built[action.state].request
    found = Mismatches()
    for caller in CALLERS:
        with cell():
            name = caller_name(action, caller)
            client = api_as(name) if door == "api" else web_as(name)
            before = snapshot()
            response = getattr(action, door)(client, request)
            if caller == "group_member":
                expected = action.api_ok if door == "api" else action.web_ok
            elif door == "api":
                expected = api_refusal(action, visible=False)
            else:
                expected = web_refusal(action, visible=False)
            found.check(
                f"{action.name} via {door} as {name} ({caller})", response, expected, before
            )
    found.done()


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_expired_and_revoked_tokens_do_nothing(built, action):
    request = built[action.state].request
    name = "auditor" if action.name == "read_audit" else f"h_{min(action.allowed)}"
    found = Mismatches()
    for kind in ("expired", "revoked"):
        with cell():
            record, plain = personal_token(user(name), name="matrix")
            if kind == "expired":
                record.expires_at = timezone.now() - timedelta(seconds=1)
                record.save(update_fields=["expires_at"])
            else:
                revoke_token(token=record, actor=None)
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
            before = snapshot()
            found.check(
                f"{action.name} with a {kind} token", action.api(client, request), 401, before
            )
    found.done()


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


# --- scopes: every API route x every token scope, and a token of another service ------------

Call = Callable[[APIClient, dict], object]


@dataclass(frozen=True)
class Route:
    """How to use one API route successfully: who, on which world state, the call, the exact
    status; `scope` is the one token action it must need. `leaks(response, world)` says
    whether a response shows anything of the matrix services (for routes answering 200 to a
    token of another service: lists, the audit log)."""

    scope: str
    holder: str
    state: str
    call: Call
    ok: int
    other_service: int = 404
    leaks: Callable | None = None


def _req(w) -> str:
    return f"/api/v1/failover-requests/{w['request'].pk}/"


def _use(w) -> str:
    return f"/api/v1/break-glass/{BreakGlass.objects.get(request=w['request']).pk}/"


def _results(response) -> list[dict]:
    return response.json()["results"]


def _matrix_event(event: dict, w) -> bool:
    kind, key = event["object_type"], str(event["object_id"])
    return (kind, key) in w["matrix_objects"]


def _audit_leaks(response, w) -> bool:
    events = _results(response)
    assert events, "the audit log shows nothing at all: the check would prove nothing"
    return any(_matrix_event(e, w) for e in events)


def _export_leaks(response, w) -> bool:
    body = b"".join(response.streaming_content).decode()
    lines = [json.loads(line) for line in body.splitlines()]
    assert lines[-1]["trailer"]["complete"], "the export did not end with its trailer"
    events = lines[:-1]
    assert events, "the export is empty: the check would prove nothing"
    return any(_matrix_event(e, w) for e in events)


def _verification() -> int:
    """A finished verification of the chain (rolled back with the cell)."""
    job = Verification.objects.create(
        requested_by="matrix", state="done", ok=True, verified=1, finished_at=timezone.now()
    )
    return job.pk


def _lists_matrix(field: str):
    def leaks(response, w) -> bool:
        return any(str(x[field]).startswith(world.SLUG) for x in _results(response))

    return leaks


def _insights_matrix(response, w) -> bool:
    body = response.json()
    rows = [*body["requests"], *body["summary"], *body["services"]]
    return any(str(x["service"]).startswith(world.SLUG) for x in rows)


NEW_SERVICE = {
    "slug": "payments",
    "name": "Payments",
    "governance_mode": "dual_approval",
    "data_residency_region": "eu",
    "customer_segments": ["retail"],
}
REQUESTS = "/api/v1/failover-requests/"

# fmt: off
ROUTES: dict[tuple[str, str], Route] = {
    ("api/v1/services/", "GET"): Route(
        "read", "h_declare", "none", lambda c, w: c.get("/api/v1/services/"), 200,
        other_service=200, leaks=_lists_matrix("slug"),
    ),
    ("api/v1/services/", "POST"): Route(
        "configure", "registrar", "none",
        lambda c, w: c.post("/api/v1/services/", NEW_SERVICE, format="json"), 201,
        other_service=403,  # registering reaches beyond any one service
    ),
    ("api/v1/services/<slug>/", "GET"): Route(
        "read", "h_declare", "none", lambda c, w: c.get(f"/api/v1/services/{world.SLUG}/"), 200
    ),
    ("api/v1/services/<slug>/authority-chain/", "GET"): Route(
        "read", "h_declare", "none",
        lambda c, w: c.get(f"/api/v1/services/{world.SLUG}/authority-chain/"), 200,
    ),
    ("api/v1/failover-requests/", "GET"): Route(
        "read", "h_declare", "pending", lambda c, w: c.get(REQUESTS), 200,
        other_service=200, leaks=_lists_matrix("service"),
    ),
    ("api/v1/failover-requests/", "POST"): Route(
        "declare", "h_declare", "none",
        lambda c, w: c.post(
            REQUESTS, {"service": world.SLUG, "target": "failover", "reason": "m"}, format="json"
        ),
        201,
    ),
    ("api/v1/failover-requests/<pk>/", "GET"): Route(
        "read", "h_declare", "pending", lambda c, w: c.get(_req(w)), 200
    ),
    ("api/v1/failover-requests/<pk>/decisions/", "POST"): Route(
        "decide", "h_approve_availability", "pending",
        lambda c, w: c.post(
            _req(w) + "decisions/",
            {"kind": "approve", "role": "availability", "plan_hash": w["request"].plan_hash},
            format="json",
        ),
        201,
    ),
    ("api/v1/failover-requests/<pk>/execute/", "POST"): Route(
        "execute", "h_execute", "approved", lambda c, w: c.post(_req(w) + "execute/"), 200
    ),
    ("api/v1/failover-requests/<pk>/rollback/", "POST"): Route(
        "rollback", "h_rollback", "applied",
        lambda c, w: c.post(_req(w) + "rollback/", {"reason": "m"}, format="json"), 200,
    ),
    ("api/v1/failover-requests/<pk>/cancel/", "POST"): Route(
        "cancel", "h_declare", "pending",
        lambda c, w: c.post(_req(w) + "cancel/", {"reason": "m"}, format="json"), 200,
    ),
    ("api/v1/failover-requests/<pk>/replan/", "POST"): Route(
        "declare", "h_declare", "pending",
        lambda c, w: c.post(_req(w) + "replan/", {"reason": "m"}, format="json"), 200,
    ),
    ("api/v1/failover-requests/<pk>/readiness/", "GET"): Route(
        "read", "h_declare", "failing_check", lambda c, w: c.get(_req(w) + "readiness/"), 200
    ),
    # Stronger than read: a run fetches the target's endpoints and its results set or clear
    # the system vetoes, i.e. they change whether the request may execute.
    ("api/v1/failover-requests/<pk>/readiness/run/", "POST"): Route(
        "decide", "h_declare", "pending", lambda c, w: c.post(_req(w) + "readiness/run/"), 202
    ),
    ("api/v1/failover-requests/<pk>/readiness/lift/", "POST"): Route(
        "decide", "h_veto", "failing_check",
        lambda c, w: c.post(
            _req(w) + "readiness/lift/",
            {
                "check_id": ReadinessCheck.objects.get(request=w["request"]).pk,
                "reason": "the certificate is renewed on the failover side",
            },
            format="json",
        ),
        200,
    ),
    ("api/v1/failover-requests/<pk>/secret-attestations/", "POST"): Route(
        "decide", "h_approve_identity", "pending",
        lambda c, w: c.post(
            _req(w) + "secret-attestations/",
            {"secret_name": "oidc-client", "rotated_at": timezone.now().isoformat()},
            format="json",
        ),
        201,
    ),
    # An auditor reads every report; a token limited to another service reads none here.
    ("api/v1/failover-requests/<pk>/report/", "GET"): Route(
        "read", "auditor", "pending", lambda c, w: c.get(_req(w) + "report/"), 200
    ),
    ("api/v1/failover-requests/<pk>/break-glass/", "POST"): Route(
        "execute", "h_break_glass", "pending",
        lambda c, w: c.post(
            _req(w) + "break-glass/",
            {"justification": world.JUSTIFICATION, "plan_hash": w["request"].plan_hash},
            format="json",
        ),
        201,
    ),
    ("api/v1/break-glass/", "GET"): Route(
        "read", "h_declare", "glass_broken", lambda c, w: c.get("/api/v1/break-glass/"), 200,
        other_service=200, leaks=_lists_matrix("service"),
    ),
    ("api/v1/break-glass/<pk>/", "GET"): Route(
        "read", "h_declare", "glass_broken", lambda c, w: c.get(_use(w)), 200
    ),
    ("api/v1/break-glass/<pk>/reviews/", "POST"): Route(
        "decide", "h_approve_identity", "glass_broken",
        lambda c, w: c.post(_use(w) + "reviews/", {"comment": "looked at it"}, format="json"),
        201,
    ),
    ("api/v1/audit-events/", "GET"): Route(
        "audit", "auditor", "pending", lambda c, w: c.get("/api/v1/audit-events/"), 200,
        other_service=200, leaks=_audit_leaks,
    ),
    ("api/v1/audit-events/export/", "GET"): Route(
        "audit", "auditor", "pending", lambda c, w: c.get("/api/v1/audit-events/export/"), 200,
        other_service=200, leaks=_export_leaks,
    ),
    # The latest finished verification; starting one (a background job); polling it.
    ("api/v1/audit-events/verify/", "GET"): Route(
        "audit", "auditor", "pending",
        lambda c, w: (_verification(), c.get("/api/v1/audit-events/verify/"))[1], 200,
        other_service=403,  # the chain spans every service
    ),
    ("api/v1/audit-events/verify/", "POST"): Route(
        "audit", "auditor", "pending", lambda c, w: c.post("/api/v1/audit-events/verify/"), 202,
        other_service=403,
    ),
    ("api/v1/audit-verifications/<pk>/", "GET"): Route(
        "audit", "auditor", "pending",
        lambda c, w: c.get(f"/api/v1/audit-verifications/{_verification()}/"), 200,
        other_service=403,
    ),
    # Decision times: of the services the token may see only.
    ("api/v1/insights/", "GET"): Route(
        "read", "h_declare", "pending", lambda c, w: c.get("/api/v1/insights/"), 200,
        other_service=200, leaks=_insights_matrix,
    ),
    # About the calling token itself: any token, whatever its actions (ANY).
    ("api/v1/tokens/current/", "GET"): Route(
        "any", "h_declare", "none", lambda c, w: c.get("/api/v1/tokens/current/"), 200,
        other_service=200,
    ),
    ("api/v1/tokens/current/step-up/", "POST"): Route(
        "any", "h_declare", "none",
        lambda c, w: c.post(
            "/api/v1/tokens/current/step-up/", {"password": world.PASSWORD}, format="json"
        ),
        200,
        other_service=200,
    ),
    # A passkey challenge changes nothing; someone without a passkey is told to add one (400).
    ("api/v1/step-up/challenge/", "POST"): Route(
        "any", "h_declare", "none",
        lambda c, w: c.post(
            "/api/v1/step-up/challenge/", {"act": "approve", "target": "request:1"}, format="json"
        ),
        400,
        other_service=400,
    ),
}
# fmt: on
ANY = "any"  # a route any token may use, whatever actions it names

# Routes no token opens: public documentation, and the webhook doors, which authenticate by
# their tools' own signatures (a bearer token there is refused like no credential at all).
PUBLIC = {"api/schema/", "api/docs/"}
WEBHOOKS = {
    "api/v1/integrations/pagerduty/",
    "api/v1/integrations/alertmanager/",
    "api/v1/integrations/opsgenie/",
}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry.callback


def _route(raw: str) -> str:
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", raw)
    route = re.sub(r"<\w+:(\w+)>", r"<\1>", route)
    return route.replace("^", "").replace("$", "")


def api_routes() -> tuple[set[tuple[str, str]], set[str]]:
    """(route, method) of every API handler the URL resolver knows, and the routes without
    handlers of ours (public and webhook). Format-suffix aliases share their route's handler
    and so its scope."""
    handlers, others = set(), set()
    for raw, callback in _walk(get_resolver().url_patterns):
        route = _route(raw)
        if not route.startswith("api/") or "<format>" in route:
            continue
        view = getattr(callback, "cls", None)
        if route in PUBLIC or route in WEBHOOKS:
            others.add(route)
        elif actions := getattr(callback, "actions", None):
            # HEAD is GET without the body (DRF adds it to `actions` once it has served one).
            handlers |= {(route, method.upper()) for method in actions if method != "head"}
        else:
            methods = ("get", "post", "put", "patch", "delete")
            handlers |= {(route, m.upper()) for m in methods if hasattr(view, m)}
    return handlers, others


def test_every_api_route_is_in_the_scope_matrix():
    """A new route fails here until it is given a row (and so a scope); a row for a route
    that is gone fails too."""
    handlers, others = api_routes()
    assert handlers - set(ROUTES) == set(), "routes without a row in ROUTES"
    assert set(ROUTES) - handlers == set(), "rows in ROUTES for routes that do not exist"
    assert others == PUBLIC | WEBHOOKS
    assert {r.scope for r in ROUTES.values()} <= {*ApiToken.ACTIONS, ANY}


def _prepared(built, route: Route) -> dict:
    setup = built[route.state]
    requests = FailoverRequest.objects.filter(service__slug__startswith=world.SLUG)
    matrix_objects = {("failover.failoverrequest", str(r.pk)) for r in requests}
    services = Service.objects.filter(slug__startswith=world.SLUG)
    matrix_objects |= {("failover.service", str(s.pk)) for s in services}
    return {"request": setup.request, "service": setup.service, "matrix_objects": matrix_objects}


@pytest.mark.parametrize("key", sorted(ROUTES), ids=lambda k: f"{k[1]} {k[0]}")
def test_each_route_needs_its_token_scope_and_stays_in_the_tokens_services(built, key):
    route = ROUTES[key]
    w = _prepared(built, route)
    where = f"{key[1]} {key[0]}"
    found = Mismatches()
    for action in ApiToken.ACTIONS:
        with cell():
            client = api_as(route.holder, actions=[action])
            before = snapshot()
            response = route.call(client, w)
            expected = route.ok if route.scope in (action, ANY) else 403
            found.check(f"{where} with a '{action}' token", response, expected, before)
            refused = expected == 403 and response.status_code == 403
            if refused and response.json()["error"]["code"] != "token_scope":
                found.append(f"{where} with a '{action}' token: not a token_scope refusal")
            shown = route.scope in (action, ANY) and route.leaks and response.status_code == 200
            if shown and not route.leaks(response, w):
                found.append(f"{where}: the holder's own token does not see the matrix")
    with cell():
        elsewhere = Service.objects.get(slug=world.OTHER)
        actions = [] if route.scope == ANY else [route.scope]
        client = api_as(route.holder, actions=actions, services=[elsewhere])
        before = snapshot()
        response = route.call(client, w)
        found.check(
            f"{where} with a token of another service", response, route.other_service, before
        )
        if route.leaks and response.status_code == 200 and route.leaks(response, w):
            found.append(f"{where}: a token of another service sees the matrix services")
    found.done()


@pytest.mark.parametrize("route", sorted(WEBHOOKS))
def test_webhook_doors_take_no_bearer_token(built, route):
    with cell():
        client = api_as("h_declare")
        before = snapshot()
        response = client.post("/" + route, {}, format="json")
        assert response.status_code == 401, (response.status_code, response.content[:200])
        assert snapshot() == before


# --- idempotency: a key is the credential's, a replay is re-checked --------------------------


def test_a_replay_never_crosses_tokens_and_needs_the_visibility_still(built):
    """Two tokens of one user keep separate keys; after the user loses the authority, the
    replay of their own earlier answer is a 404, as the request itself now is."""
    w = _prepared(built, ROUTES[("api/v1/failover-requests/<pk>/cancel/", "POST")])
    with cell():
        url = _req(w) + "cancel/"
        first, second = api_as("g_declare"), api_as("g_declare")
        answer = first.post(url, {"reason": "m"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert answer.status_code == 200
        again = first.post(url, {"reason": "m"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
        # Another token of the same user does not get the first token's answer back: it acts
        # itself (the request is cancelled by now, so it is told so).
        other = second.post(url, {"reason": "m"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert other.status_code == 409 and not other.has_header("Idempotent-Replayed")
        assert IdempotencyKey.objects.filter(key="k").count() == 2
        user("g_declare").groups.clear()
        gone = first.post(url, {"reason": "m"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert gone.status_code == 404 and not gone.has_header("Idempotent-Replayed")
