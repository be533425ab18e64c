"""Who may read /metrics: a bearer token or an allowed network; nobody when neither is set."""

import pytest

from tests.metrics.scrape import TOKEN

pytestmark = pytest.mark.django_db


def test_neither_token_nor_network_turns_metrics_off(client, settings):
    settings.METRICS_TOKEN = None
    settings.METRICS_ALLOWED_NETWORKS = []
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 404


def test_the_right_token_reads_the_metrics(client, metrics_on):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"failover_build_info{" in response.content
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}"],
)
def test_a_missing_or_wrong_token_is_401_with_a_bearer_challenge(client, metrics_on, header):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"failover_" not in response.content


def test_a_non_ascii_token_is_refused_not_a_500(client, metrics_on):
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer caf\u00e9")
    assert response.status_code == 401


def test_an_allowed_network_reads_without_a_token(client, settings):
    settings.METRICS_TOKEN = None
    settings.METRICS_ALLOWED_NETWORKS = ["10.1.0.0/16", "2001:db8::/32"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:10.1.2.3").status_code == 200
    # Outside the networks, with no token configured: no credential could help.
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 403


def test_x_forwarded_for_does_not_put_a_client_inside_the_network(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = ["10.1.0.0/16"]
    response = client.get("/metrics", REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert response.status_code == 401
    # Token and network are alternatives: either one is enough.
    assert client.get("/metrics", REMOTE_ADDR="10.1.0.9").status_code == 200
    response = client.get("/metrics", REMOTE_ADDR="192.0.2.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200


def test_only_reads(client, metrics_on):
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 405


def test_a_scraper_reaches_it_by_address_over_plain_http(client, metrics_on):
    # Prometheus scrapes web:8000 inside the platform network (failover/probes.py).
    metrics_on.SECURE_SSL_REDIRECT = True
    response = client.get(
        "/metrics", HTTP_HOST="10.0.3.7:8000", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )
    assert response.status_code == 200
    assert client.get("/metrics", HTTP_HOST="10.0.3.7:8000").status_code == 401
