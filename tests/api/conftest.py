import pytest
from rest_framework.test import APIClient

from tests.factories import make_service, user
from tests.tokens import personal_token


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def shop(db):
    return make_service("shop")


@pytest.fixture
def elsewhere(db, shop):
    from tests.factories import PERSONAS

    return make_service("elsewhere", chain={a: ["other"] for a in set(PERSONAS.values())})


@pytest.fixture
def as_user(api):
    """Authenticate the client with a fresh token of `username` (optionally scoped)."""

    def login(username, **scope):
        _, plain = personal_token(user(username), name="test", **scope)
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
        return api

    return login


@pytest.fixture
def empty_caches():
    """No remembered answer from another test, before or after (failover/api/presented.py)."""
    from django.core.cache import cache

    from failover.degrade import local_cache

    cache.clear(), local_cache.clear()
    yield
    cache.clear(), local_cache.clear()
