"""CSRF on every door a browser session can reach: each URL pattern of the site, sent each
unsafe method by a signed-in session without a CSRF token, is refused 403 by the CSRF check.
The only exceptions are listed here: webhooks (authenticated by signatures and shared
secrets, never by a session) and the public read-only API schema and docs."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

pytestmark = pytest.mark.django_db

UNSAFE = ("post", "put", "patch", "delete")
# Paging tools prove themselves with their own scheme; a session is never consulted there.
WEBHOOKS = {
    "/api/v1/integrations/pagerduty/",
    "/api/v1/integrations/alertmanager/",
    "/api/v1/integrations/opsgenie/",
}
# Served to anyone, without a session, and only ever read (405 for anything else).
PUBLIC_READ_ONLY = {"/api/schema/", "/api/docs/"}
SAMPLES = {"pk": "1", "slug": "checkout", "format": "json", "app_label": "auth", "url": "x/"}


def _route(pattern: str) -> str:
    def sample(match):
        converter, name = match.group(1) or "str", match.group(2)
        return {"int": "1", "slug": "checkout", "path": "1/x"}.get(
            converter, SAMPLES.get(name, "x")
        )

    return re.sub(r"<(?:(\w+):)?(\w+)>", sample, pattern)


def _regex(pattern: str) -> str:
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: SAMPLES.get(m.group(1), "x"), pattern)
    text = text.replace("\\.", ".").replace("/?", "/").replace("^", "").replace("$", "")
    assert not re.search(r"[\\()\[\]?*+|]", text), f"cannot make a URL of {pattern!r}"
    return text


def every_url(patterns=None, prefix: str = "/") -> list[str]:
    urls = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        pattern = entry.pattern
        part = _route(str(pattern)) if isinstance(pattern, RoutePattern) else ""
        if isinstance(pattern, RegexPattern):
            part = _regex(pattern.regex.pattern)
        if isinstance(entry, URLResolver):
            urls += every_url(entry.url_patterns, prefix + part)
        elif isinstance(entry, URLPattern):
            urls.append(prefix + part)
    return sorted(set(urls))


def refused_for_csrf(response) -> bool:
    if response.status_code != 403:
        return False
    templates = {t.name for t in getattr(response, "templates", [])}
    return "403_csrf.html" in templates or b"CSRF Failed" in response.content


@pytest.fixture
def session():
    client = Client(enforce_csrf_checks=True)
    admin = get_user_model().objects.create_superuser("root", password="x" * 20)
    client.force_login(admin)
    return client


def test_the_walk_covers_the_site():
    urls = every_url()
    assert len(urls) > 150  # the admin's, the API's, the pages'
    for expected in (
        "/login/",
        "/declare/",
        "/requests/1/",
        "/api/v1/failover-requests/1/execute/",
    ):
        assert expected in urls
    assert (WEBHOOKS | PUBLIC_READ_ONLY).issubset(urls)


def test_every_unsafe_request_without_a_token_is_refused(session):
    not_refused = {}
    for url in every_url():
        for method in UNSAFE:
            response = getattr(session, method)(url, data="{}", content_type="application/json")
            if not refused_for_csrf(response):
                not_refused.setdefault(url, set()).add(response.status_code)
    assert set(not_refused) == WEBHOOKS | PUBLIC_READ_ONLY
    for url in PUBLIC_READ_ONLY:
        assert not_refused[url] == {405}, url
    for url in WEBHOOKS:
        assert not_refused[url] <= {401, 405}, url  # no integration exists: nothing stored


def test_the_same_request_with_a_token_gets_past_the_check(session):
    session.get("/")  # its sign-out form sets the CSRF cookie
    token = session.cookies["csrftoken"].value
    for url in ("/logout/", "/api/v1/failover-requests/", "/admin/auth/user/add/"):
        response = session.post(url, data={}, HTTP_X_CSRFTOKEN=token)
        assert not refused_for_csrf(response), url
