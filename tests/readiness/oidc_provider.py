"""A local OpenID Connect provider over TLS for the identity drill tests: discovery, JWKS and a
token endpoint issuing RS256 client-credentials tokens (OAuth 2.0, RFC 6749 4.4), signed with
PyJWT; its certificate from a trustme CA.

Every behaviour a test needs to break is a plain attribute: which keys the JWKS publishes,
which key signs (and which kid the header names), the issuer and audience the token carries,
its lifetime, the algorithm; `answers[path]` replaces any route's answer with raw bytes
(garbage), `opaque` issues a token that is no JWT, `echo_secret` puts the presented secret
into the error (a careless provider), to prove it never reaches evidence.

    with Provider(ca, tmp_path, client_secret=SECRET) as idp:
        idp.issuer, idp.address, idp.fingerprint
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

import jwt
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

HOST = "idp.example.test"
AUDIENCE = "https://api.shop.example.test"
CLIENT_ID = "failover-drill"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str | None) -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(use="sig", alg="RS256")
    if kid is not None:
        jwk["kid"] = kid
    return jwk


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _route(self, method: str) -> None:
        provider = self.server.provider
        path = self.path.split("?", 1)[0]
        provider.hits.append((method, path))
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length) if length else b""  # read whatever is answered
        if path in provider.answers:
            status, content_type, body = provider.answers[path]
            return self._send(status, body, content_type)
        if method == "GET" and path == provider.path + "/.well-known/openid-configuration":
            return self._json(200, provider.discovery())
        if method == "GET" and path == provider.path + "/jwks":
            return self._json(200, provider.jwks())
        if method == "POST" and path == provider.path + "/token":
            form = {k: v[0] for k, v in parse_qs(sent.decode()).items()}
            return self._json(*provider.token(form, self.headers.get("Authorization", "")))
        return self._json(404, {"error": "not found"})

    def _json(self, status: int, body: dict) -> None:
        self._send(status, json.dumps(body).encode())

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    provider: Provider

    def handle_error(self, request, client_address):
        pass  # a client giving up mid-answer (a huge body) is what some tests are for


class Provider:
    def __init__(
        self,
        ca: trustme.CA,
        tmp,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str,
        audience: str = AUDIENCE,
        path: str = "/realms/drill",
        kids: tuple[str, ...] = ("k1",),
    ):
        self.client_id, self.client_secret, self.audience = client_id, client_secret, audience
        self.path = path
        self.keys = {kid: new_key() for kid in kids}
        self.published = list(kids)  # the kids the JWKS serves
        self.signing = kids[0]  # the key that signs tokens
        self.header_kid: str | None = kids[0]  # what the token's header names ("": none)
        self.algorithm = "RS256"
        self.iss: str | None = None  # the token's issuer; None: the real one
        self.aud: str | None = None
        self.lifetime = 300
        self.opaque = False
        self.echo_secret = False
        self.auth_methods = ["client_secret_basic", "client_secret_post"]
        self.answers: dict[str, tuple[int, str, bytes]] = {}
        self.hits: list[tuple[str, str]] = []
        self.token_requests: list[dict] = []

        self.cert = ca.issue_cert(HOST, "127.0.0.1")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.cert.configure_cert(context)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.provider = self
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = self._server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- what it serves ---

    @property
    def issuer(self) -> str:
        return f"https://127.0.0.1:{self.port}{self.path}"

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the leaf certificate it serves (hex)."""
        leaf = x509.load_pem_x509_certificate(self.cert.cert_chain_pems[0].bytes())
        return hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest()

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.issuer + "/jwks",
            "token_endpoint": self.issuer + "/token",
            "token_endpoint_auth_methods_supported": self.auth_methods,
            "grant_types_supported": ["client_credentials"],
        }

    def jwks(self) -> dict:
        return {"keys": [public_jwk(self.keys[kid], kid) for kid in self.published]}

    def add_key(self, kid: str) -> None:
        self.keys[kid] = new_key()

    # --- the token endpoint ---

    def _presented(self, form: dict, authorization: str) -> tuple[str, str]:
        if authorization.startswith("Basic "):
            raw = base64.b64decode(authorization[6:]).decode()
            client_id, _, secret = raw.partition(":")
            return unquote(client_id), unquote(secret)
        return form.get("client_id", ""), form.get("client_secret", "")

    def token(self, form: dict, authorization: str) -> tuple[int, dict]:
        self.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
        client_id, secret = self._presented(form, authorization)
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if client_id != self.client_id or secret != self.client_secret:
            description = "client authentication failed"
            if self.echo_secret:
                description += f" for {client_id}:{secret} ({authorization})"
            return 401, {"error": "invalid_client", "error_description": description}
        if self.opaque:
            return 200, {"access_token": "opaque-" + "x" * 40, "token_type": "Bearer"}
        now = int(time.time())
        claims = {
            "iss": self.issuer if self.iss is None else self.iss,
            "aud": self.audience if self.aud is None else self.aud,
            "sub": client_id,
            "client_id": client_id,
            "iat": now,
            "exp": now + self.lifetime,
        }
        headers = {"kid": self.header_kid} if self.header_kid else {}
        if self.algorithm.startswith("HS"):
            key: object = b"a shared secret anyone could hold, 32+ bytes long"
        else:
            key = self.keys[self.signing]
        token = jwt.encode(claims, key, algorithm=self.algorithm, headers=headers)  # type: ignore[arg-type]
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime}

    # --- lifecycle ---

    def __enter__(self) -> Provider:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
