"""Local stand-ins for the demo's failover targets, so `make run` checks real TLS, a real
OIDC discovery document and a real health URL without leaving the machine.

Each demo target listens on 127.0.0.1 at the port of its address with a certificate for its
expected hostnames, signed by a demo CA that the readiness checks pin (READINESS_CA_BUNDLES).
One target serves an expired certificate on purpose: failing over to it shows the system veto.
"""

from __future__ import annotations

import json
import ssl
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

from failover.demo.data import EXPIRED_CERTIFICATE, IDP_PORT, ISSUERS, SERVICES

# --- certificates ---------------------------------------------------------------------------


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(common_name: str = "Failover demo CA") -> tuple[bytes, bytes]:
    """A self-signed CA: (certificate PEM, private key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def issue(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    names: list[str],
    *,
    valid_days: int = 365,
    expired: bool = False,
) -> tuple[bytes, bytes]:
    """A server certificate for `names` (DNS names or IP addresses): (chain PEM, key PEM).
    `expired` makes one that lapsed yesterday."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    not_after = now - timedelta(days=1) if expired else now + timedelta(days=valid_days)
    sans = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now - timedelta(days=60), not_after - timedelta(days=1)))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


# --- a tiny HTTPS server --------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        status, body = self.server.routes.get(self.path, (404, {"error": "not found"}))
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients refusing a certificate is what the expired target is for


class HTTPSServer:
    """Fixed JSON routes over TLS on 127.0.0.1 (`port=0` picks a free port)."""

    def __init__(self, chain_pem: bytes, key_pem: bytes, routes: dict, *, port: int, workdir):
        self.routes = dict(routes)
        self._server = _QuietServer(("127.0.0.1", port), _Handler)
        self._server.routes = self.routes
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert_file = Path(workdir) / f"server-{id(self)}.pem"
        cert_file.write_bytes(key_pem + chain_pem)
        context.load_cert_chain(str(cert_file))
        cert_file.unlink()
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = self._server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def start(self) -> HTTPSServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def oidc_routes(issuer: str, prefix: str = "") -> dict:
    """Discovery document and a one-key JWKS for `issuer`, served under `prefix`."""
    jwks = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "demo", "x": "AA", "y": "AA"}]}
    return {
        f"{prefix}/.well-known/openid-configuration": (
            200,
            {"issuer": issuer, "jwks_uri": f"{issuer}/jwks", "response_types_supported": ["code"]},
        ),
        f"{prefix}/jwks": (200, jwks),
    }


# --- the demo's targets ---------------------------------------------------------------------


def demo_dir() -> Path:
    path = Path(settings.VAR_DIR) / "demo-targets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_ca() -> tuple[bytes, bytes, Path]:
    """The demo CA, made once and kept under var/demo-targets/."""
    folder = demo_dir()
    cert_path, key_path = folder / "ca.pem", folder / "ca-key.pem"
    if not (cert_path.exists() and key_path.exists()):
        cert, key = make_ca()
        key_path.write_bytes(key)
        key_path.chmod(0o600)
        cert_path.write_bytes(cert)
    return cert_path.read_bytes(), key_path.read_bytes(), cert_path


def bundles() -> dict[str, str]:
    """READINESS_CA_BUNDLES for the demo: every demo certificate trust pins the demo CA."""
    _, _, ca_path = ensure_ca()
    trusts = {t[6] for spec in SERVICES for t in spec["targets"]}
    return {trust: str(ca_path) for trust in sorted(trusts)}


def servers() -> list[HTTPSServer]:
    """One server per demo target port plus the identity provider, not yet started."""
    ca_cert, ca_key, _ = ensure_ca()
    folder = demo_dir()
    found = []
    idp_chain, idp_key = issue(ca_cert, ca_key, ["localhost", "127.0.0.1"])
    idp_routes = {}
    for region, issuer in ISSUERS.items():
        idp_routes.update(oidc_routes(issuer, prefix=f"/{region}"))
    found.append(HTTPSServer(idp_chain, idp_key, idp_routes, port=IDP_PORT, workdir=folder))
    for spec in SERVICES:
        for name, _role, _active, address, *_ in spec["targets"]:
            host, port = address.rsplit(":", 1)
            chain, key = issue(
                ca_cert,
                ca_key,
                [f"{spec['slug']}.example.test", host],
                expired=(spec["slug"], name) in EXPIRED_CERTIFICATE,
            )
            routes = {"/healthz": (200, {"status": "ok", "target": f"{spec['slug']}/{name}"})}
            found.append(HTTPSServer(chain, key, routes, port=int(port), workdir=folder))
    return found
