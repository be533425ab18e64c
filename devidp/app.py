"""The provider: Authlib's authorization server on Flask, everything kept in memory.

A development tool, not production code (see devidp/__init__.py)."""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant as _CodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, abort, jsonify, redirect, render_template_string, request, session
from joserfc.jwk import RSAKey

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CODE_SECONDS = 60


@dataclass
class User:
    username: str
    password: str
    name: str = ""
    email: str = ""
    groups: list[str] = field(default_factory=list)
    disabled: bool = False

    def public(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "password"}


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        allowed = {"openid", "email", "profile", "groups"}
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        # A development provider: the RP runs on loopback at whatever port the test chose.
        parts = urlsplit(redirect_uri)
        return parts.scheme == "http" and parts.hostname in LOOPBACK

    def check_client_secret(self, client_secret):
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    username: str
    nonce: str | None
    auth_time: int
    code_challenge: str
    code_challenge_method: str
    expires_at: float = field(default_factory=lambda: time.time() + CODE_SECONDS)

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time


class Store:
    """Users, codes and tokens, behind one lock (Flask serves threads)."""

    def __init__(self, users: list[dict]):
        self.lock = threading.Lock()
        self.users = {u["username"]: User(**u) for u in users}
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, str] = {}  # access token -> username
        self.used_nonces: set[str] = set()


class RequiredS256(CodeChallenge):
    """PKCE is required of every client, and only S256 is accepted."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code):
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code):
        return authorization_code.code_challenge_method


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · devidp</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 24rem; margin: 3rem auto">
<h1>devidp</h1>
<p>Development identity provider. Sign in to continue to <strong>{{ client_id }}</strong>.</p>
{% if error %}<p role="alert" style="color: #a00">{{ error }}</p>{% endif %}
<form method="post">
  <p><label for="username">Username</label><br>
     <input id="username" name="username" value="{{ username }}" autocomplete="username"></p>
  <p><label for="password">Password</label><br>
     <input id="password" name="password" type="password" autocomplete="current-password"></p>
  <p><button type="submit">Sign in</button></p>
</form></body></html>"""


def create_app(
    *,
    users_file: str,
    issuer: str,
    admin_secret: str = "",
    client_id: str = "failover",
    client_secret: str = "devidp-client-secret",
) -> Flask:
    with open(users_file) as f:
        store = Store(json.load(f))
    client = Client(client_id, client_secret)
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)

    app = Flask(__name__)
    app.secret_key = secrets.token_bytes(32)  # provider sessions end when it stops
    app.config["SESSION_COOKIE_NAME"] = "devidp_session"  # not the RP's cookie on the same host

    class OpenID(OpenIDCode):
        def exists_nonce(self, nonce, req):
            with store.lock:
                return nonce in store.used_nonces

        def resolve_client_private_key(self, client):
            return key

        def get_client_algorithm(self, client):
            return "RS256"

        def get_encode_header(self, client):
            return {"alg": "RS256", "kid": key.kid}

        def get_client_claims(self, client):
            return {"iss": issuer, "aud": [client.get_client_id()]}

        def generate_user_info(self, user, scope):
            return user_info(user)

    class CodeGrant(_CodeGrant):
        def save_authorization_code(self, code, req):
            data = req.payload.data
            with store.lock:
                if data.get("nonce"):
                    store.used_nonces.add(data["nonce"])
                store.codes[code] = Code(
                    code=code,
                    client_id=req.client.client_id,
                    redirect_uri=req.payload.redirect_uri,
                    scope=req.payload.scope,
                    username=req.user.username,
                    nonce=data.get("nonce"),
                    auth_time=session["auth_time"],
                    code_challenge=data.get("code_challenge", ""),
                    code_challenge_method=data.get("code_challenge_method", ""),
                )

        def query_authorization_code(self, code, client):
            with store.lock:
                found = store.codes.get(code)
            if found and found.client_id == client.client_id and found.expires_at > time.time():
                return found
            return None

        def delete_authorization_code(self, authorization_code):
            with store.lock:
                store.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code):
            with store.lock:
                user = store.users.get(authorization_code.username)
            return None if user is None or user.disabled else user

    def save_token(token, req):
        with store.lock:
            store.tokens[token["access_token"]] = req.user.username

    server = AuthorizationServer(
        app,
        query_client=lambda cid: client if cid == client.client_id else None,
        save_token=save_token,
    )
    server.register_grant(CodeGrant, [OpenID(require_nonce=False), RequiredS256(required=True)])

    def user_info(user: User) -> UserInfo:
        return UserInfo(
            sub=user.username,
            preferred_username=user.username,
            name=user.name,
            email=user.email,
            groups=list(user.groups),
        )

    def signed_in_user() -> User | None:
        with store.lock:
            user = store.users.get(session.get("username", ""))
        return None if user is None or user.disabled else user

    def must_log_in(grant) -> bool:
        """prompt=login, max_age exceeded, or nobody signed in here: ask for the password."""
        if signed_in_user() is None or grant.prompt == "login":
            return True
        max_age = request.values.get("max_age")
        if max_age not in (None, ""):
            try:
                return time.time() - session.get("auth_time", 0) >= int(max_age)
            except ValueError:
                return True
        return False

    # --- endpoints ----------------------------------------------------------------------------

    @app.get("/.well-known/openid-configuration")
    def discovery():
        return jsonify(
            issuer=issuer,
            authorization_endpoint=f"{issuer}/authorize",
            token_endpoint=f"{issuer}/token",
            userinfo_endpoint=f"{issuer}/userinfo",
            jwks_uri=f"{issuer}/jwks",
            end_session_endpoint=f"{issuer}/end_session",
            response_types_supported=["code"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"],
            scopes_supported=["openid", "email", "profile", "groups"],
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
            code_challenge_methods_supported=["S256"],
            claims_supported=["sub", "preferred_username", "name", "email", "groups", "auth_time"],
        )

    @app.get("/jwks")
    def jwks():
        return jsonify(keys=[key.as_dict(private=False)])

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize():
        try:
            grant = server.get_consent_grant(end_user=signed_in_user())
        except Exception as exc:  # an OAuth2Error: said to the person, not redirected
            description = getattr(exc, "description", "") or str(exc)
            return f"Bad authorization request: {description}", 400
        page = {"client_id": client.client_id, "error": "", "username": ""}
        if request.method == "GET":
            if must_log_in(grant):
                return render_template_string(LOGIN_PAGE, **page)
            return server.create_authorization_response(grant_user=signed_in_user(), grant=grant)
        username = request.form.get("username", "")
        with store.lock:
            user = store.users.get(username)
        ok = user is not None and hmac.compare_digest(
            user.password.encode(), request.form.get("password", "").encode()
        )
        if not ok:
            page.update(error="Wrong username or password.", username=username)
            return render_template_string(LOGIN_PAGE, **page), 401
        if user.disabled:
            page.update(
                error="This account is disabled at the identity provider: ask your administrator.",
                username=username,
            )
            return render_template_string(LOGIN_PAGE, **page), 403
        session["username"], session["auth_time"] = user.username, int(time.time())
        return server.create_authorization_response(grant_user=user, grant=grant)

    @app.post("/token")
    def token():
        return server.create_token_response()

    @app.route("/userinfo", methods=["GET", "POST"])
    def userinfo():
        value = request.headers.get("Authorization", "")
        with store.lock:
            username = store.tokens.get(value.removeprefix("Bearer ").strip())
            user = store.users.get(username or "")
        if user is None or user.disabled:
            return jsonify(error="invalid_token"), 401
        return jsonify(user_info(user))

    @app.route("/end_session", methods=["GET", "POST"])
    def end_session():
        session.clear()
        target = request.values.get("post_logout_redirect_uri", "")
        if target and client.check_redirect_uri(target):
            return redirect(target)
        return "Signed out of devidp."

    # --- the admin API: the tests' way to change the organisation ------------------------------

    def admin_only():
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not admin_secret or not hmac.compare_digest(given.encode(), admin_secret.encode()):
            abort(403)

    @app.get("/admin/users")
    def admin_users():
        admin_only()
        with store.lock:
            return jsonify([u.public() for u in store.users.values()])

    @app.put("/admin/users/<username>")
    def admin_user(username):
        admin_only()
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(error="send a JSON object"), 400
        allowed = {"password", "name", "email", "groups", "disabled"}
        if unknown := set(body) - allowed:
            return jsonify(error=f"unknown fields: {sorted(unknown)}"), 400
        with store.lock:
            user = store.users.get(username)
            if user is None:
                user = store.users[username] = User(username, body.get("password", ""))
            for name, value in body.items():
                setattr(user, name, value)
            return jsonify(user.public())

    @app.get("/")
    def home():
        return f"devidp: discovery at {issuer}/.well-known/openid-configuration"

    return app
