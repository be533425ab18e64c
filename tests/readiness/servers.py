"""Real local HTTPS servers for the readiness tests: the demo's TLS server on 127.0.0.1,
port 0, serving fixed JSON routes with a certificate of the test's choosing."""

from __future__ import annotations

import trustme

from failover.demo import targets

HOST = "shop.example.test"
SECRETS = ["tls_private_key", "oidc_client_secret"]


class HTTPSServer(targets.HTTPSServer):
    """`with HTTPSServer(cert_chain_pem, key_pem, routes, tmp=tmp_path) as srv:`."""

    def __init__(self, chain_pem: bytes, key_pem: bytes, routes: dict | None = None, tmp=None):
        super().__init__(chain_pem, key_pem, routes or {}, port=0, workdir=tmp)


def leaf(ca: trustme.CA, *names: str) -> tuple[bytes, bytes]:
    cert = ca.issue_cert(*names)
    chain = b"".join(blob.bytes() for blob in cert.cert_chain_pems)
    return chain, cert.private_key_pem.bytes()


def expired_leaf(ca: trustme.CA, name: str, *, expires_in_days: int = -1) -> tuple[bytes, bytes]:
    """trustme cannot backdate: a leaf signed by the trustme CA that expired yesterday (or
    expires in `expires_in_days`)."""
    ca_pems = (ca.cert_pem.bytes(), ca.private_key_pem.bytes())
    if expires_in_days < 0:
        return targets.issue(*ca_pems, [name], expired=True)
    return targets.issue(*ca_pems, [name], valid_days=expires_in_days)


def ca_file(ca: trustme.CA, tmp) -> str:
    path = tmp / f"ca-{id(ca)}.pem"
    path.write_bytes(ca.cert_pem.bytes())
    return str(path)


def serve(ca: trustme.CA, tmp, *, expired: bool = False) -> HTTPSServer:
    """A failover target: HOST's certificate (expired if asked), a health URL and an OIDC
    issuer with one key, all on one local port."""
    chain, key = expired_leaf(ca, HOST) if expired else leaf(ca, HOST, "127.0.0.1")
    server = HTTPSServer(chain, key, {"/healthz": (200, {"ok": True})}, tmp=tmp)
    server.routes["/.well-known/openid-configuration"] = (
        200,
        {"issuer": server.url("/"), "jwks_uri": server.url("/jwks")},
    )
    server.routes["/jwks"] = (200, {"keys": [{"kid": "k1", "kty": "EC"}]})
    return server


def point_target(target, server):
    """Make `target` (a Target row) live at `server`."""
    target.address = server.address
    target.certificate_hostnames = [HOST]
    target.oidc_issuer = server.url("/")
    target.health_url = server.url("/healthz")
    target.save()
    return target
