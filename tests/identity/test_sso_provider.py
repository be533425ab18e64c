"""devidp itself: the provider the demo and the SSO tests sign in through must refuse what a
real provider refuses (no PKCE, a token request without the verifier, a disabled person)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import jwt
import requests

from tests.identity.idp import CLIENT_ID, CLIENT_SECRET, PASSWORD

REDIRECT = "http://127.0.0.1:9/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(idp, session, *, login=True, **params):
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "state": "s",
        "nonce": secrets.token_urlsafe(8),
        **params,
    }
    page = session.get(f"{idp.issuer}/authorize", params=query, allow_redirects=False)
    if login and page.status_code == 200 and "Password" in page.text:
        page = session.post(
            page.url, data={"username": "iris", "password": PASSWORD}, allow_redirects=False
        )
    return page


def code_of(response) -> str:
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def token(idp, code: str, **extra):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **extra,
    }
    return requests.post(f"{idp.issuer}/token", data=data, timeout=5)


def test_a_token_request_without_the_pkce_verifier_is_refused(devidp):
    _, challenge = pkce()
    code = code_of(
        authorize(
            devidp, requests.Session(), code_challenge=challenge, code_challenge_method="S256"
        )
    )
    refused = token(devidp, code)
    assert refused.status_code == 400 and "code_verifier" in refused.json()["error_description"]
    wrong = token(devidp, code, code_verifier=pkce()[0])
    assert wrong.status_code == 400


def test_the_right_verifier_gets_a_signed_id_token_with_auth_time(devidp):
    verifier, challenge = pkce()
    nonce = "n-" + secrets.token_urlsafe(8)
    response = authorize(
        devidp,
        requests.Session(),
        code_challenge=challenge,
        code_challenge_method="S256",
        nonce=nonce,
    )
    answer = token(devidp, code_of(response), code_verifier=verifier)
    assert answer.status_code == 200, answer.text
    id_token = answer.json()["id_token"]
    key = jwt.PyJWKClient(f"{devidp.issuer}/jwks").get_signing_key_from_jwt(id_token)
    claims = jwt.decode(
        id_token, key.key, algorithms=["RS256"], audience=CLIENT_ID, issuer=devidp.issuer
    )
    assert claims["sub"] == "iris" and claims["nonce"] == nonce and claims["auth_time"] > 0
    assert claims["groups"] == ["incident-commanders", "everyone"]


def test_an_authorization_request_without_pkce_or_with_plain_is_refused(devidp):
    session = requests.Session()
    assert authorize(devidp, session, login=False).status_code == 400
    _, challenge = pkce()
    plain = authorize(
        devidp, session, login=False, code_challenge=challenge, code_challenge_method="plain"
    )
    assert plain.status_code == 400 and "S256" in plain.text


def test_prompt_login_and_max_age_zero_ask_for_the_password_again(devidp):
    session = requests.Session()
    _, challenge = pkce()
    pkce_params = {"code_challenge": challenge, "code_challenge_method": "S256"}
    code_of(authorize(devidp, session, **pkce_params))  # signed in at the provider
    assert authorize(devidp, session, login=False, **pkce_params).status_code == 302
    for extra in ({"prompt": "login"}, {"max_age": "0"}):
        page = authorize(devidp, session, login=False, **pkce_params, **extra)
        assert page.status_code == 200 and "Password" in page.text


def test_the_admin_api_needs_the_admin_secret(devidp):
    url = f"{devidp.issuer}/admin/users/iris"
    assert requests.put(url, json={"disabled": True}, timeout=5).status_code == 403
    assert devidp.set_user("iris", disabled=True)["disabled"] is True
    page = authorize(
        devidp, requests.Session(), code_challenge=pkce()[1], code_challenge_method="S256"
    )
    assert page.status_code == 403 and "disabled" in page.text
