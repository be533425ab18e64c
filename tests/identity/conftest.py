"""Fixtures for the identity tests."""

from __future__ import annotations

import pytest

from tests.identity.idp import CLIENT_ID, CLIENT_SECRET, DevIdp, person
from tests.web.conftest import browser  # noqa: F401 (Chromium for the browser tests here)

# --- SSO: a real devidp process (tests/identity/idp.py) ---------------------------------------

# Provider group -> the demo's product groups (failover/demo/data.py GROUP_AUTHORITIES).
GROUP_MAP = {
    "incident-commanders": "Incident commanders",
    "availability-leads": "Availability leads",
    "identity-leads": "Identity leads",
    "executors": "Executors",
}
IDP_USERS = [
    person("iris", ["incident-commanders", "everyone"]),
    person("ava", ["availability-leads"]),
    person("ian", ["identity-leads"]),
    person("gone", ["availability-leads"], disabled=True),
]


@pytest.fixture
def devidp(tmp_path):
    idp = DevIdp(IDP_USERS, tmp_path)
    yield idp
    idp.stop()


@pytest.fixture
def sso(devidp, settings):
    """The product configured to sign in through `devidp` (demo groups mapped)."""
    from identity import oidc

    settings.OIDC_ISSUER = devidp.issuer
    settings.OIDC_CLIENT_ID = settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = "devidp"
    settings.OIDC_GROUP_MAP = GROUP_MAP
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "identity.oidc.Backend"]
    oidc.reset_caches()
    yield devidp
    oidc.reset_caches()
