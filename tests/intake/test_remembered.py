"""The door remembers the integration it found (one query less per delivery), but never acts on
a stale copy: a rotated secret, a retired one, a deactivation, a lower limit or a second active
integration of the kind all hold from the very next delivery, as without remembering."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from failover.intake import services
from failover.intake.integrations import retire_old_secrets, rotate_secret
from failover.intake.models import Delivery, Integration
from tests.harness.broker import redis_cache
from tests.intake.conftest import make_integration, post, sign
from tests.intake.test_pagerduty import RULES, incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def pd(shop):
    integration, secret = make_integration("pagerduty", rules=RULES, rate_limit_per_minute=5)
    services.forget("pagerduty", None)  # nothing from an earlier test's rows
    return integration, secret


def send(client, n, secrets, query=""):
    body = json.dumps(incident(incident_id=f"Q{n}")).encode()
    return post(
        client,
        "pagerduty",
        None,
        query=query,
        body=body,
        HTTP_X_PAGERDUTY_SIGNATURE=sign(body, *secrets),
        HTTP_X_WEBHOOK_ID=f"wh-{n}",
    )


def warm(client, secret) -> None:
    """One delivery, so the door now remembers the integration."""
    assert send(client, 0, [secret]).status_code == 202
    assert ("pagerduty", "") in services._REMEMBERED


def test_a_remembered_integration_is_not_read_again(client, pd):
    _, secret = pd
    warm(client, secret)
    with CaptureQueriesContext(connection) as queries:
        assert send(client, 1, [secret]).status_code == 202
    # Checked by the INSERT itself, in the same statement: no query of its own.
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    assert not [sql for sql in reads if "failover_integration" in sql], reads
    assert Delivery.objects.filter(status="received").count() == 2


def test_a_rotated_secret_signs_at_once_and_a_retired_one_is_refused_at_once(client, pd):
    integration, old = pd
    warm(client, old)
    _, new = rotate_secret(actor=None, name=integration.name)
    assert send(client, 1, [new]).status_code == 202
    assert send(client, 2, [old]).status_code == 202  # both sign while it rotates
    retire_old_secrets(actor=None, name=integration.name)
    assert send(client, 3, [old]).status_code == 401
    assert send(client, 4, [new]).status_code == 202
    stored = set(Delivery.objects.values_list("external_id", flat=True))
    assert stored == {f"pd:01DEVTQ{n}TRIGGERED" for n in (0, 1, 2, 4)}


def test_a_change_between_the_check_and_the_insert_stores_nothing(client, pd):
    """The remembered copy authenticates the request, but the INSERT finds the row changed
    (here: deactivated behind the door's back) and stores nothing; the door looks again."""
    _, secret = pd
    warm(client, secret)
    Integration.objects.update(active=False)  # no save(), no signal: only the row changes
    response = send(client, 1, [secret])
    assert response.status_code == 401
    assert Delivery.objects.count() == 1


def test_a_lower_limit_holds_from_the_next_delivery(client, pd, settings, tmp_path):
    with redis_cache(settings, tmp_path):
        _, secret = pd
        warm(client, secret)
        assert send(client, 1, [secret]).status_code == 202  # 2 of 5
        Integration.objects.update(rate_limit_per_minute=2)
        response = send(client, 2, [secret])
        assert response.status_code == 429
        assert "(2/min)" in response.json()["error"]["message"]
        assert Delivery.objects.count() == 2


def test_a_second_active_integration_of_the_kind_needs_a_name_at_once(client, pd):
    _, secret = pd
    warm(client, secret)
    make_integration("pagerduty", "pd-two", rules=RULES)
    assert send(client, 1, [secret]).status_code == 401  # which one? it must be named
    assert send(client, 2, [secret], query="?integration=pagerduty").status_code == 202
    assert Delivery.objects.count() == 2


def test_a_named_integration_is_remembered_beside_others_of_its_kind(client, pd):
    _, secret = pd
    make_integration("pagerduty", "pd-two", rules=RULES)
    query = "?integration=pagerduty"
    assert send(client, 0, [secret], query=query).status_code == 202
    with CaptureQueriesContext(connection) as queries:
        assert send(client, 1, [secret], query=query).status_code == 202
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    assert not [sql for sql in reads if "failover_integration" in sql], reads
    assert Delivery.objects.count() == 2


def test_the_window_counter_expires(client, pd, settings, tmp_path):
    """One round trip counts the delivery and sets the counter's expiry, so counters of past
    minutes do not pile up in Redis."""
    import redis

    with redis_cache(settings, tmp_path) as url:
        _, secret = pd
        assert send(client, 1, [secret]).status_code == 202
        client_ = redis.Redis.from_url(url)
        keys = [k for k in client_.keys("*") if b"intake:integration:pagerduty:" in k]
        assert len(keys) == 1
        assert int(client_.get(keys[0])) == 1
        assert 0 < client_.ttl(keys[0]) <= 120
