"""Property-based: the three webhook doors fed arbitrary bodies, headers and query strings.

Unauthenticated, nothing is ever stored (no delivery, signal, request or audit event) and the
answer is a 4xx. With valid credentials over an arbitrary body, the answer is 202 or a 4xx,
and the worker's processing of whatever was stored ends in a recorded outcome, never in a
crash (its catch-all would hide one as "processing error")."""

from __future__ import annotations

import base64
import json
from contextlib import contextmanager

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEvent
from failover.intake.events import NOTE
from failover.intake.models import Delivery, Integration
from failover.intake.tools import alertmanager
from failover.models import FailoverRequest, Signal
from tests.intake.conftest import URL, let_declare, make_integration, pd_time, process_all, sign

pytestmark = pytest.mark.django_db

KINDS = ("pagerduty", "alertmanager", "opsgenie")
RULES = {
    "pagerduty": {"services": {"PSHOP": "shop"}, "metric": "error_rate", "value": 50},
    "alertmanager": {},
    "opsgenie": {},
}
EXAMPLES = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- what a caller might send ---

header_text = st.text(
    st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"), max_size=80
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["shop", "error_rate", "firing", "resolved", "Create", "Close", "12.5%"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def mostly(good):
    """Usually what the tool would send, sometimes anything at all in its place."""
    return st.one_of(good, good, good, json_values)


ids = st.text("abcdef0123456789-", min_size=1, max_size=12)
values = st.floats(0, 100) | st.sampled_from(["12.5", "7%", "", "NaN", "1e999", "-3"])
metrics = st.sampled_from(["error_rate", "regional_loss", "control_plane", "cpu"])
services = st.sampled_from(["shop", "elsewhere", "PSHOP", ""])

alertmanager_payloads = st.fixed_dictionaries(
    {
        "version": mostly(st.just("4")),
        "groupKey": mostly(ids),
        "alerts": mostly(
            st.lists(
                mostly(
                    st.fixed_dictionaries(
                        {
                            "status": mostly(st.sampled_from(["firing", "resolved"])),
                            "labels": mostly(
                                st.fixed_dictionaries(
                                    {"service": mostly(services), "metric": mostly(metrics)}
                                )
                            ),
                            "annotations": mostly(st.fixed_dictionaries({"value": values})),
                        },
                        optional={"fingerprint": mostly(ids), "startsAt": mostly(ids)},
                    )
                ),
                max_size=3,
            )
        ),
    }
)
pagerduty_payloads = st.fixed_dictionaries(
    {
        "event": mostly(
            st.fixed_dictionaries(
                {
                    "id": mostly(ids),
                    "event_type": mostly(
                        st.sampled_from(
                            ["incident.triggered", "incident.resolved", "service.updated"]
                        )
                    ),
                    "resource_type": mostly(st.just("incident")),
                    # Now, give or take PagerDuty's retries; sometimes far outside the window.
                    "occurred_at": mostly(
                        st.builds(pd_time, st.sampled_from([0, -60, -1200, -(10**8), 10**5]))
                    ),
                    "data": mostly(
                        st.fixed_dictionaries(
                            {
                                "id": mostly(ids),
                                "service": mostly(st.fixed_dictionaries({"id": services})),
                            },
                            optional={"title": json_values, "urgency": json_values},
                        )
                    ),
                }
            )
        )
    }
)
opsgenie_payloads = st.fixed_dictionaries(
    {
        "action": mostly(st.sampled_from(["Create", "Close", "Acknowledge"])),
        "alert": mostly(
            st.fixed_dictionaries(
                {
                    "alertId": mostly(ids),
                    "details": mostly(
                        st.fixed_dictionaries(
                            {"service": mostly(services)},
                            optional={"metric": mostly(metrics), "value": values},
                        )
                    ),
                },
                optional={"message": json_values},
            )
        ),
    }
)
NATIVE = {
    "alertmanager": alertmanager_payloads,
    "pagerduty": pagerduty_payloads,
    "opsgenie": opsgenie_payloads,
}
native_payloads = st.one_of(*NATIVE.values())


def _encode(payload) -> bytes:
    return json.dumps(payload).encode()


bodies = st.one_of(
    st.binary(max_size=600),
    native_payloads.map(_encode),
    native_payloads.map(_encode),
    json_values.map(_encode),
    st.text(max_size=200).map(str.encode),
)
headers = st.dictionaries(
    st.sampled_from(
        [
            "Authorization",
            "X-PagerDuty-Signature",
            "X-Failover-Secret",
            "X-Webhook-Id",
            "Content-Type",
            "X-Forwarded-For",
            "Cookie",
        ]
    )
    | st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True),
    header_text
    | st.sampled_from(["Bearer ", "Basic !!!", "Basic " + base64.b64encode(b":").decode()])
    | st.from_regex(r"v1=[0-9a-f]{64}", fullmatch=True),
    max_size=6,
)
# Lengths the test client can honestly send (a length longer than the body is a network
# matter: the server waits, then gives up reading, answered 400 in `read_body`).
lengths = st.sampled_from([None, "-1", "", "1e3", "x", "0", str(2**20 + 1), "9" * 30])
queries = st.one_of(
    st.just({}), st.fixed_dictionaries({"integration": st.text(max_size=30) | st.just("og")})
)


def meta(given_headers: dict) -> dict:
    """Headers as the test client takes them (WSGI environ keys)."""
    environ = {}
    for name, value in given_headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    return environ


def send(client, kind, body, environ, query):
    environ = {"CONTENT_TYPE": "application/json", **environ}
    return client.generic("POST", URL.format(kind=kind), body, query_params=query, **environ)


@pytest.fixture
def secrets(shop):
    """One active integration of each kind, with a limit the fuzzing does not reach."""
    found = {}
    for kind in KINDS:
        integration, secret = make_integration(
            kind, name="og" if kind == "opsgenie" else kind, rules=RULES[kind]
        )
        Integration.objects.filter(pk=integration.pk).update(rate_limit_per_minute=100_000)
        found[kind] = secret
    let_declare(shop)
    return found


@contextmanager
def example_of_its_own():
    """Each generated example starts from the same database (a replay finds the same bug)."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def stored() -> tuple:
    return (
        Delivery.objects.count(),
        Signal.objects.count(),
        FailoverRequest.objects.count(),
        AuditEvent.objects.count(),
        Integration.objects.exclude(last_received_at=None).count(),
    )


@EXAMPLES
@given(
    kind=st.sampled_from(KINDS),
    body=bodies,
    given_headers=headers,
    length=lengths,
    query=queries,
)
def test_unauthenticated_deliveries_store_nothing(
    client, secrets, kind, body, given_headers, length, query
):
    before = stored()
    environ = meta(given_headers)
    if length is not None:
        environ["CONTENT_LENGTH"] = length
    with example_of_its_own():
        response = send(client, kind, body, environ, query)
        assert 400 <= response.status_code < 500, (response.status_code, response.content)
        assert response.json()["error"]["code"]
        assert stored() == before


def credentials(kind: str, secret: str, body: bytes, how: int) -> dict:
    if kind == "pagerduty":
        return {"HTTP_X_PAGERDUTY_SIGNATURE": sign(body, "0" * 32, secret)}
    if kind == "alertmanager":
        if how % 2:
            basic = base64.b64encode(f"am:{secret}".encode()).decode()
            return {"HTTP_AUTHORIZATION": f"Basic {basic}"}
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    return {"HTTP_X_FAILOVER_SECRET": secret}


@EXAMPLES
@given(
    kind=st.sampled_from(KINDS),
    data=st.data(),
    given_headers=headers,
    how=st.integers(0, 1),
    webhook_id=st.none() | header_text,
)
def test_authenticated_arbitrary_bodies_are_answered_and_processed(
    client, secrets, kind, data, given_headers, how, webhook_id
):
    native = NATIVE[kind].map(_encode)
    body = data.draw(st.one_of(native, native, native, bodies), label="body")
    environ = meta(given_headers)
    for key in ("HTTP_AUTHORIZATION", "HTTP_X_PAGERDUTY_SIGNATURE", "HTTP_X_FAILOVER_SECRET"):
        environ.pop(key, None)
    environ.update(credentials(kind, secrets[kind], body, how))
    if webhook_id is not None:
        environ["HTTP_X_WEBHOOK_ID"] = webhook_id
    with example_of_its_own():
        response = send(client, kind, body, environ, {})
        assert response.status_code in (202, 400), (response.status_code, response.content)
        if response.status_code == 202:
            assert response.json()["status"] in ("received", "duplicate", "refused")
        else:
            assert response.json()["error"]["code"] == "invalid"
        for outcome in process_all():
            assert "error (see the worker log)" not in outcome, outcome
        assert not Delivery.objects.filter(status="received").exists()


def test_an_alert_status_that_is_not_a_string_is_noted():
    """Found by the fuzzing above: a list as an alert's status crashed the parser."""
    [event] = alertmanager.events({"alerts": [{"status": ["firing"]}]}, {})
    assert event.action == NOTE and event.note == "unknown status ['firing']"
