"""The provider step-up round trip (identity/views/reauth.py) without a browser: the test
client starts it, the provider is asked for the password again, the callback stores an unused
proof bound to the act, and confirm() spends it once for that binding only."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from identity.models import StepUpProof
from identity.stepup import Binding, StepUpError, confirm
from tests.identity.idp import sign_in_through

pytestmark = pytest.mark.django_db

User = get_user_model()


def test_provider_step_up_round_trip_without_a_browser(sso):
    client = Client(HTTP_HOST="localhost")
    sign_in_through(client, "iris")
    query = urlencode(
        {"act": "approve", "target": "request:7", "plan_hash": "a" * 64, "next": "/?from=x"}
    )
    asked = parse_qs(urlsplit(client.get(f"/step-up/provider/?{query}")["Location"]).query)
    assert (asked["prompt"], asked["max_age"]) == (["login"], ["0"])  # the password again
    answer, back = sign_in_through(client, "iris", start=f"/step-up/provider/?{query}")
    assert back is not None and back.status_code == 302, getattr(back, "content", answer.text)
    nonce = parse_qs(urlsplit(back["Location"]).query)["step_up_provider"][0]
    iris = User.objects.get(username="iris")
    proof = StepUpProof.objects.get(nonce=nonce)
    assert (proof.method, proof.user, proof.used_at) == ("provider", iris, None)
    with pytest.raises(StepUpError, match="another act or plan"):
        confirm(iris, Binding("approve", "request:8", "a" * 64), {"provider_proof": nonce})
    assert confirm(iris, Binding("approve", "request:7", "a" * 64), {"provider_proof": nonce})
    with pytest.raises(StepUpError, match="already used"):
        confirm(iris, Binding("approve", "request:7", "a" * 64), {"provider_proof": nonce})


def test_provider_step_up_refuses_bad_input_with_a_page(sso):
    client = Client(HTTP_HOST="localhost")
    sign_in_through(client, "iris")
    assert client.get("/step-up/provider/").status_code == 400  # no act
    assert client.get("/step-up/provider/?act=" + "x" * 31).status_code == 400
    assert client.get("/step-up/provider/callback/?state=nope").status_code == 400
