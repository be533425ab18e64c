"""Bodies no door can use get a clear 4xx, never a 500 (DESIGN invariant 11): every API URL
pattern, sent each unsafe method by a signed-in admin with each hostile body, answers the JSON
error envelope; the three webhook doors do the same with valid credentials; the browser
pages answer a plain 400/413 page."""

from __future__ import annotations

import json

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client

from audit.models import AuditEvent
from failover.intake.models import Delivery
from tests.factories import make_service
from tests.harness.broker import Broker
from tests.harness.gunicorn import Gunicorn
from tests.intake.conftest import make_integration, sign
from tests.security.test_csrf import every_url
from tests.tokens import personal_token

pytestmark = pytest.mark.django_db

MULTIPART = "multipart/form-data; boundary=xx"
BAD_BODIES = {
    "nested 50,000 deep": ("[" * 50_000 + "]" * 50_000, "application/json"),
    "nested objects 50,000 deep": ('{"a":' * 50_000 + "1" + "}" * 50_000, "application/json"),
    "nested 33 deep": ('{"reason":' + "[" * 32 + "]" * 32 + "}", "application/json"),
    "invalid UTF-8": (b'{"reason": "\xff\xfe ok"}', "application/json"),
    "latin-1 declared": ('{"reason": "x"}', "application/json; charset=latin-1"),
    "a bare number": ("3", "application/json"),
    "a bare string": ('"approve"', "application/json"),
    "an array": ('[{"reason": "x"}]', "application/json"),
    "null": ("null", "application/json"),
    "duplicate keys": ('{"reason": "a", "reason": "b"}', "application/json"),
    "NaN": ('{"reason": NaN}', "application/json"),
    "Infinity": ('{"ttl": -Infinity}', "application/json"),
    "1e999": ('{"ttl": 1e999}', "application/json"),
    "10**5000": ('{"ttl": 1' + "0" * 5000 + "}", "application/json"),
    "2**64": ('{"ttl": 18446744073709551616}', "application/json"),
    "NUL in text": ('{"reason": "a\\u0000b"}', "application/json"),
    "unpaired surrogate": ('{"reason": "\\ud800"}', "application/json"),
    "not JSON": ("{reason: x", "application/json"),
    "form-encoded": ("reason=x&" + "f=1&" * 2000, "application/x-www-form-urlencoded"),
    "multipart": (
        b"--xx\r\nContent-Disposition: form-data; name=a\r\n\r\nb\r\n--xx--\r\n",
        MULTIPART,
    ),
    "broken multipart": (b"--xx\r\ngarbage", MULTIPART),
    "no boundary": (b"garbage", "multipart/form-data"),
    "text/plain": ("reason", "text/plain"),
}
TEN_MB = b'{"reason": "' + b"x" * (10 * 1024 * 1024) + b'"}'


def api_urls(suffixed: bool = False) -> list[str]:
    """The API's URLs; `suffixed`: only the router's `.json/` twins of its actions."""
    urls = [url for url in every_url() if url.startswith("/api/")]
    return [url for url in urls if url.endswith(".json/") == suffixed]


@pytest.fixture
def admin_api():
    make_service("checkout")  # the walk's sample URLs name it
    admin = get_user_model().objects.create_superuser("root", password="x" * 20)
    _, plain = personal_token(admin, name="edges")
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


def envelope(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    error = json.loads(response.content)["error"]
    assert error["code"] and error["message"]
    return error


def test_the_walk_covers_the_api_and_the_webhooks():
    urls = api_urls()
    assert len(urls) > 20
    assert "/api/v1/failover-requests/1/decisions/" in urls
    assert "/api/v1/integrations/pagerduty/" in urls


def hostile_walk(client, urls) -> dict:
    wrong = {}
    for url in urls:
        for method in ("post", "put", "patch"):
            for name, (body, content_type) in BAD_BODIES.items():
                response = getattr(client, method)(url, data=body, content_type=content_type)
                ok = 400 <= response.status_code < 500
                ok = ok and response["Content-Type"].startswith("application/json")
                if not ok:
                    wrong.setdefault(f"{response.status_code} {name}", []).append(f"{method} {url}")
                else:
                    envelope(response)
    return wrong


def test_every_api_route_answers_hostile_bodies_with_a_json_4xx(admin_api):
    events = AuditEvent.objects.count()
    assert not hostile_walk(admin_api, api_urls())
    assert AuditEvent.objects.count() == events  # nothing changed


def test_the_api_has_no_format_suffixed_twins(admin_api):
    """The router's `.json/` twins called actions that take no `format` argument: a 500 on
    any body. They are not routed at all; such a URL is a JSON 404."""
    assert not api_urls(suffixed=True)
    answer = admin_api.post("/api/v1/failover-requests/1/cancel.json/", {}, "application/json")
    assert answer.status_code == 404
    envelope(answer)


def test_every_api_route_answers_a_10_mb_body_413(admin_api):
    for url in api_urls():
        response = admin_api.post(url, data=TEN_MB, content_type="application/json")
        assert response.status_code == 413, url
        assert envelope(response)["code"] == "too_large"


def test_the_parser_says_why(admin_api):
    url = "/api/v1/services/"
    for body, words in (
        ("[" * 50_000 + "]" * 50_000, "nested deeper than 32 levels"),
        ('{"name": "a", "name": "b"}', "appears twice"),
        ('{"ttl": NaN}', "NaN is not a JSON number"),
        ('{"ttl": 1' + "0" * 5000 + "}", "not JSON"),
        ('{"ttl": 18446744073709551616}', "64-bit"),
        ("[]", "must be a JSON object"),
    ):
        response = admin_api.post(url, data=body, content_type="application/json")
        assert response.status_code == 400
        assert words in envelope(response)["message"], (body[:40], response.content)
    response = admin_api.post(url, data=b'{"a": "\xff"}', content_type="application/json")
    assert "not UTF-8" in envelope(response)["message"]


def test_a_length_the_server_cannot_read_is_a_400(admin_api):
    response = admin_api.generic(
        "POST", "/api/v1/services/", b"{}", "application/json", CONTENT_LENGTH="ten"
    )
    assert response.status_code == 400
    assert envelope(response)["code"] == "invalid"


# The webhook doors store any authenticated JSON as evidence (processing records why it did
# nothing with it); these bodies are no JSON at all, so nothing is stored.
NOT_JSON = (
    "nested 50,000 deep",
    "nested objects 50,000 deep",
    "invalid UTF-8",
    "10**5000",
    "not JSON",
    "form-encoded",
    "multipart",
    "broken multipart",
    "no boundary",
    "text/plain",
)


@pytest.mark.parametrize("kind", ["pagerduty", "alertmanager", "opsgenie"])
def test_the_webhook_doors_refuse_bodies_that_are_not_json_with_valid_credentials(client, kind):
    make_service("shop")  # the service the intake tests' integrations feed
    _, secret = make_integration(kind)

    def credentials(body: bytes) -> dict:
        return {
            "pagerduty": {"HTTP_X_PAGERDUTY_SIGNATURE": sign(body, secret)},
            "alertmanager": {"HTTP_AUTHORIZATION": f"Bearer {secret}"},
            "opsgenie": {"HTTP_X_FAILOVER_SECRET": secret},
        }[kind]

    url = f"/api/v1/integrations/{kind}/"
    for name in NOT_JSON:
        body, content_type = BAD_BODIES[name]
        raw = body if isinstance(body, bytes) else body.encode()
        response = client.post(url, data=raw, content_type=content_type, **credentials(raw))
        assert response.status_code == 400, (name, response.content)
        envelope(response)
    over = b'{"a": "' + b"x" * (1024 * 1024) + b'"}'  # above the door's 1 MiB, below the site's
    response = client.post(url, data=over, content_type="application/json", **credentials(over))
    assert response.status_code == 413
    assert envelope(response)["message"] == "the body is larger than 1048576 bytes"
    response = client.post(url, data=TEN_MB, content_type="application/json")
    assert response.status_code == 413
    envelope(response)
    assert not Delivery.objects.exists()


def test_browser_pages_answer_a_plain_413_or_400(signed_in_client):
    response = signed_in_client.post(
        "/declare/", data=TEN_MB, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"too large" in response.content
    too_many = "&".join(f"f{i}=1" for i in range(2000))
    response = signed_in_client.post(
        "/declare/", data=too_many, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    response = signed_in_client.post("/declare/", data=b"--xx\r\ngarbage", content_type=MULTIPART)
    assert response.status_code == 400


def test_a_signed_in_session_sending_a_form_to_the_api_gets_a_json_4xx():
    client = Client(enforce_csrf_checks=True)  # the CSRF check reads the form
    client.force_login(get_user_model().objects.create_superuser("web-root", password="x" * 20))
    client.get("/")  # its sign-out form sets the CSRF cookie
    too_many = "&".join(f"f{i}=1" for i in range(2000))  # Django's limit is 1000 fields
    response = client.post(
        "/api/v1/services/", data=too_many, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415  # the API reads JSON only, even for its CSRF check
    envelope(response)


@pytest.fixture
def signed_in_client():
    client = Client()
    admin = get_user_model().objects.create_superuser("web-root", password="x" * 20)
    client.force_login(admin)
    return client


@pytest.mark.django_db(transaction=True)
def test_under_gunicorn_the_same_bodies_get_the_same_answers(tmp_path, zone_dir):
    """As production serves it: gunicorn in its own process, real HTTP, a real socket."""
    make_service("checkout")
    admin = get_user_model().objects.create_superuser("root", password="x" * 20)
    _, plain = personal_token(admin, name="edges")
    api = {"Authorization": f"Bearer {plain}", "Content-Type": "application/json"}
    broker = Broker(tmp_path / "broker").start()
    web = Gunicorn(broker, tmp_path, zone_dir).start()
    try:
        url = web.url + "/api/v1/services/"
        for body, status in (
            (TEN_MB, 413),
            ("[" * 50_000 + "]" * 50_000, 400),
            ('{"ttl": 1' + "0" * 5000 + "}", 400),
        ):
            response = requests.post(url, data=body, headers=api, timeout=60)
            assert response.status_code == status
            assert response.json()["error"]["message"]
        response = requests.post(web.url + "/login/", data=TEN_MB, timeout=60)
        assert response.status_code == 413
        assert "too large" in response.text
    finally:
        web.stop()
        broker.stop()
    assert "Traceback" not in web.log.read_text()
