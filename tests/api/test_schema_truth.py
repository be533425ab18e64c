"""The schema tells the truth: real responses of the API, walked through the usual flows
(declare, list, read, decide, veto and lift, readiness, execute, roll back, break-glass, the
current token, and errors 400/403/404/409/429), checked against the OpenAPI document that
clients are generated from (drf-spectacular's, as served at /api/schema/).

For each response: its status is documented for its operation, every field it carries is
documented (objects are closed for this check), every documented field is there (the
schema's `required`), the values have the documented types, and the headers an operation
documents (Idempotent-Replayed, X-Token-Expires, Location) are the ones it sends."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openapi_schema_validator import OAS30Validator
from rest_framework.test import APIClient

from approvals.readiness.models import ReadinessCheck
from dnsproviders import tasks
from dnsproviders.models import DnsChange
from failover.api.throttling import UserThrottle
from failover.models import FailoverRequest
from tests.factories import make_service, user
from tests.tokens import personal_token

pytestmark = pytest.mark.django_db


@dataclass
class Call:
    method: str
    template: str  # the schema's path, e.g. /api/v1/failover-requests/{id}/
    url: str
    status: int
    body: object
    headers: dict
    queries: int


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)

    def __call__(self, client, method, template, *, query="", body=None, expect=None, **path):
        url = template.format(**path) + query
        extra = {}
        if isinstance(body, tuple):  # (body, idempotency key)
            body, extra["HTTP_IDEMPOTENCY_KEY"] = body
        with CaptureQueriesContext(connection) as queries:
            if method == "get":
                response = client.get(url)
            else:
                response = client.post(url, body, format="json", **extra)
        data = response.json() if response.content else None
        if expect is not None:
            assert response.status_code == expect, (method, url, response.status_code, data)
        self.calls.append(
            Call(
                method,
                template,
                url,
                response.status_code,
                data,
                dict(response.items()),
                len(queries),
            )
        )
        return data


def token(username, **scope) -> APIClient:
    client = APIClient()
    _, plain = personal_token(user(username), name="schema truth", **scope)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


R = "/api/v1/failover-requests/"
ONE = R + "{id}/"


def exercise(people, settings) -> list[Call]:
    """Every operation the API tests walk through, with each error family once."""
    settings.READINESS_SYSTEM_VETO = True
    call = Recorder()
    declarer, avail, identity = token("declarer"), token("avail"), token("identity")
    vetoer, ir, executor = token("vetoer"), token("ir"), token("executor")
    make_service("second")  # the same personas on more services: break-glass, cancel
    make_service("third")

    # Services and the authority chain; registering one; a token without `read`.
    call(avail, "get", "/api/v1/services/", expect=200)
    call(avail, "get", "/api/v1/services/{slug}/", slug="shop", expect=200)
    call(avail, "get", "/api/v1/services/{slug}/authority-chain/", slug="shop", expect=200)
    call(avail, "get", "/api/v1/services/{slug}/", slug="nowhere", expect=404)
    admin = user("registrar")
    admin.user_permissions.add(Permission.objects.get(codename="add_service"))
    new = {"slug": "payments", "name": "Payments", "customer_segments": ["retail"]}
    call(token("registrar"), "post", "/api/v1/services/", body=new, expect=201)
    call(avail, "post", "/api/v1/services/", body={**new, "slug": "p2"}, expect=403)
    no_read = token("avail", actions=["decide"])
    call(no_read, "get", "/api/v1/services/", expect=403)
    call(no_read, "get", "/api/v1/services/{slug}/", slug="shop", expect=403)
    call(no_read, "get", "/api/v1/services/{slug}/authority-chain/", slug="shop", expect=403)

    # Declare (with a replayed Idempotency-Key), bad input, unknown service, a duplicate.
    declare = {"service": "shop", "target": "failover", "reason": "eu down", "incident_ref": "I"}
    req = call(declarer, "post", R, body=(declare, "k-1"), expect=201)
    call(declarer, "post", R, body=(declare, "k-1"), expect=201)  # replayed
    call(declarer, "post", R, body=(declare, "k-1x"), expect=409)  # one open request at once
    call(declarer, "post", R, body={**declare, "reason": ""}, expect=400)
    call(declarer, "post", R, body={**declare, "service": "nowhere"}, expect=404)
    call(declarer, "post", R, body=({**declare, "reason": "other"}, "k-1"), expect=422)
    call(avail, "post", R, body=declare, expect=403)
    rid, plan = req["id"], req["plan_hash"]

    call(avail, "get", R, expect=200)
    call(avail, "get", R, query="?state=bogus", expect=400)
    call(avail, "get", ONE, id=rid, expect=200)
    call(avail, "get", ONE, id=10**9, expect=404)
    call(no_read, "get", R, expect=403)
    call(no_read, "get", ONE, id=rid, expect=403)
    call(no_read, "get", ONE + "readiness/", id=rid, expect=403)

    # Decisions: a preview, a stale plan, approve, veto and lift, sign off.
    approve = {"kind": "approve", "role": "availability", "plan_hash": plan}
    call(avail, "post", ONE + "decisions/", query="?preview=1", body=approve, id=rid, expect=200)
    stale = {**approve, "plan_hash": "0" * 64}
    call(avail, "post", ONE + "decisions/", body=stale, id=rid, expect=409)
    call(avail, "post", ONE + "decisions/", body=(approve, "a-1"), id=rid, expect=201)
    call(avail, "post", ONE + "decisions/", body=(approve, "a-1"), id=rid, expect=201)
    call(avail, "post", ONE + "decisions/", body={"kind": "nope"}, id=rid, expect=400)
    veto = {"kind": "veto", "comment": "IdP keys"}
    call(vetoer, "post", ONE + "decisions/", body=veto, id=rid, expect=201)
    call(vetoer, "post", ONE + "decisions/", body={"kind": "lift_veto"}, id=rid, expect=201)
    identity_ok = {"kind": "approve", "role": "identity", "plan_hash": plan}
    call(identity, "post", ONE + "decisions/", body=identity_ok, id=rid, expect=201)
    sign = {"kind": "sign_off", "role": "incident_response", "plan_hash": plan}
    call(ir, "post", ONE + "decisions/", body=sign, id=rid, expect=201)

    # Readiness: evidence, a run, a failing check lifted, a secret attestation.
    check = ReadinessCheck.objects.create(
        request_id=rid,
        target=FailoverRequest.objects.get(pk=rid).to_target,
        kind="tls",
        ok=False,
        identity_critical=True,
        reason="expired",
        details={"hostnames": []},
        checked_at=timezone.now(),
    )
    call(avail, "get", ONE + "readiness/", id=rid, expect=200)
    call(executor, "post", ONE + "readiness/run/", id=rid, expect=202)
    call(token("executor", actions=["read"]), "post", ONE + "readiness/run/", id=rid, expect=403)
    lift = {"check_id": check.pk, "reason": "renewed"}
    call(identity, "post", ONE + "readiness/lift/", body=lift, id=rid, expect=403)
    call(vetoer, "post", ONE + "readiness/lift/", body={"check_id": check.pk}, id=rid, expect=400)
    call(vetoer, "post", ONE + "readiness/lift/", body=lift, id=rid, expect=200)
    call(token("vetoer2"), "post", ONE + "readiness/lift/", body=lift, id=rid, expect=409)
    attest = {"secret_name": "tls_private_key", "rotated_at": "2026-11-01T09:30:00Z"}
    call(identity, "post", ONE + "secret-attestations/", body=attest, id=rid, expect=201)

    # Execute (refused without the authority), again (wrong state), then roll back.
    call(avail, "post", ONE + "execute/", id=rid, expect=403)
    call(executor, "post", ONE + "execute/", id=rid, expect=200)
    call(executor, "post", ONE + "execute/", id=rid, expect=409)
    tasks.apply_change(DnsChange.objects.get(request_id=rid).pk)
    call(avail, "get", ONE, id=rid, expect=200)
    call(avail, "get", ONE + "report/", id=rid, expect=200)
    back = {"reason": "EU back"}
    call(token("rollbacker"), "post", ONE + "rollback/", body=back, id=rid, expect=200)

    # Break-glass on the second service, its review, the list and one use.
    other = call(declarer, "post", R, body={**declare, "service": "second"}, expect=201)
    glass = {"justification": "identity lead unreachable while EU checkout is down"}
    use = call(
        token("breakglass"), "post", ONE + "break-glass/", body=glass, id=other["id"], expect=201
    )
    review = {"comment": "justified"}
    bg = "/api/v1/break-glass/{id}/"
    call(avail, "post", bg + "reviews/", body=review, id=use["id"], expect=201)
    call(avail, "get", "/api/v1/break-glass/", expect=200)
    call(avail, "get", bg, id=use["id"], expect=200)

    # Cancel a third request; the token that calls.
    third = call(declarer, "post", R, body={**declare, "service": "third"}, expect=201)
    call(declarer, "post", ONE + "cancel/", body={"reason": "drill"}, id=third["id"], expect=200)
    call(avail, "get", "/api/v1/tokens/current/", expect=200)
    # Insights: decision times of every request above; a window out of range.
    call(avail, "get", "/api/v1/insights/", expect=200)
    call(avail, "get", "/api/v1/insights/", query="?days=0", expect=400)
    # A drill of the third service, now that its request is cancelled.
    call(declarer, "post", R, body={**declare, "service": "third", "drill": True}, expect=201)

    # Throttled: the limit named.
    cache.clear()
    UserThrottle.THROTTLE_RATES = {**UserThrottle.THROTTLE_RATES, "user": "1/min"}
    try:
        call(avail, "get", ONE, id=rid, expect=200)
        call(avail, "get", ONE, id=rid, expect=429)
    finally:
        UserThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        cache.clear()
    return call.calls


# What the flows above must have reached: the operations and each error family.
EXERCISED = {
    ("post", R),
    ("get", R),
    ("get", ONE),
    ("post", ONE + "decisions/"),
    ("post", ONE + "readiness/run/"),
    ("post", ONE + "readiness/lift/"),
    ("get", ONE + "readiness/"),
    ("post", ONE + "execute/"),
    ("post", ONE + "rollback/"),
    ("get", ONE + "report/"),
    ("post", ONE + "cancel/"),
    ("post", ONE + "break-glass/"),
    ("post", ONE + "secret-attestations/"),
    ("get", "/api/v1/services/"),
    ("post", "/api/v1/services/"),
    ("get", "/api/v1/services/{slug}/"),
    ("get", "/api/v1/services/{slug}/authority-chain/"),
    ("get", "/api/v1/break-glass/"),
    ("get", "/api/v1/break-glass/{id}/"),
    ("post", "/api/v1/break-glass/{id}/reviews/"),
    ("get", "/api/v1/tokens/current/"),
    ("get", "/api/v1/insights/"),
}
ERROR_STATUSES = {400, 403, 404, 409, 422, 429}


def closed(schema, components):
    """The schema with every $ref inlined and every object that lists its properties closed
    to others: a field the API sends but the schema does not name fails validation."""
    if isinstance(schema, list):
        return [closed(item, components) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return closed(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if schema.get("nullable") and len(schema.get("allOf", ())) == 1:
        # drf-spectacular's nullable nested serializer (OAS 3.0): `allOf: [$ref]` beside
        # `nullable`, which the validator applies to the wrapper only.
        inner = closed(schema["allOf"][0], components)
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return {**inner, **rest}
    out = {key: closed(value, components) for key, value in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def problems_of(calls, document) -> list[str]:
    components = document["components"]["schemas"]
    found = []
    for c in calls:
        where = f"{c.method.upper()} {c.url} -> {c.status}"
        operation = document["paths"].get(c.template, {}).get(c.method)
        if operation is None:
            found.append(f"{where}: operation not documented")
            continue
        response = operation["responses"].get(str(c.status))
        if response is None:
            found.append(f"{where}: status not documented ({sorted(operation['responses'])})")
            continue
        for header in ("Idempotent-Replayed", "X-Token-Expires", "Location"):
            if header not in c.headers:
                continue
            declared = response.get("headers", {}).get(header)
            if declared is None:
                found.append(f"{where}: header {header} not documented")
                continue
            for error in OAS30Validator(declared.get("schema", {})).iter_errors(c.headers[header]):
                found.append(f"{where}: header {header}: {error.message}")
        content = response.get("content", {}).get("application/json")
        if c.body is None:
            if content is not None:
                found.append(f"{where}: documented a body, sent none")
            continue
        if content is None:
            found.append(f"{where}: sent a body, documented none")
            continue
        schema = closed(content["schema"], components)
        for error in OAS30Validator(schema).iter_errors(c.body):
            path = "/".join(str(p) for p in error.absolute_path)
            found.append(f"{where}: at /{path}: {error.message}")
    return found


@pytest.fixture
def document(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def calls(people, settings):
    return exercise(people, settings)


def test_every_response_is_what_the_schema_says(calls, document):
    assert problems_of(calls, document) == []


def test_the_flows_reach_every_operation_and_error_family(calls):
    assert {(c.method, c.template) for c in calls} >= EXERCISED
    assert {c.status for c in calls} >= ERROR_STATUSES
    assert any("Idempotent-Replayed" in c.headers for c in calls)
    assert any("X-Token-Expires" in c.headers for c in calls)


def test_a_field_the_schema_lacks_or_misses_is_caught(calls, document):
    """The check itself: a field sent but not documented, and one documented but not sent."""
    one = next(c for c in calls if (c.method, c.template, c.status) == ("get", ONE, 200))
    extra = copy.deepcopy(one)
    extra.body["undocumented"] = 1
    missing = copy.deepcopy(one)
    del missing.body["plan_hash"]
    wrong = copy.deepcopy(one)
    wrong.status = 418
    found = problems_of([extra, missing, wrong], document)
    assert len(found) == 3, found
    assert "'undocumented' was unexpected" in found[0]
    assert "'plan_hash' is a required property" in found[1]
    assert "status not documented" in found[2]
