"""Authenticators for the passkey tests.

`SoftKey`: a software passkey (P-256, `cryptography`) registered directly as a Passkey row and
answering challenges like a real authenticator would, for fast tests without a browser.
`virtual_authenticator`: Chromium's virtual authenticator (the DevTools WebAuthn domain) in a
Playwright page, so navigator.credentials.create/get work headless, verified by the real key."""

from __future__ import annotations

import hashlib
import json
import secrets
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.encode_cbor import encode_cbor

RP_ID = "failover.example"
ORIGIN = "https://failover.example"
FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40


class SoftKey:
    def __init__(self, rp_id: str = RP_ID, origin: str = ORIGIN):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = bytes_to_base64url(secrets.token_bytes(32))
        self.rp_id, self.origin = rp_id, origin
        self.sign_count = 0

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return encode_cbor(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def register(self, user, name: str = "soft key"):
        from identity.models import Passkey

        return Passkey.objects.create(
            user=user,
            name=name,
            credential_id=self.credential_id,
            public_key=self.cose_public_key(),
            sign_count=self.sign_count,
        )

    def attest(self, challenge: str, *, verified: bool = True) -> dict:
        """The JSON a browser posts for navigator.credentials.create over `challenge` (base64url,
        as in the options): a "none" attestation of this key."""
        client_data = json.dumps(
            {"type": "webauthn.create", "challenge": challenge, "origin": self.origin}
        ).encode()
        raw_id = base64url_to_bytes(self.credential_id)
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([FLAG_UP | (FLAG_UV if verified else 0) | FLAG_AT])
            + struct.pack(">I", 0)
            + bytes(16)  # AAGUID
            + struct.pack(">H", len(raw_id))
            + raw_id
            + self.cose_public_key()
        )
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.credential_id,
            "rawId": self.credential_id,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        }

    def assert_(self, challenge: bytes | str, *, verified: bool = True, count: int | None = None):
        """The JSON a browser posts for navigator.credentials.get over `challenge` (bytes, or
        already base64url as in the options)."""
        if isinstance(challenge, bytes):
            challenge = bytes_to_base64url(challenge)
        self.sign_count = self.sign_count + 1 if count is None else count
        client_data = json.dumps(
            {"type": "webauthn.get", "challenge": challenge, "origin": self.origin}
        ).encode()
        flags = FLAG_UP | (FLAG_UV if verified else 0)
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([flags])
            + struct.pack(">I", self.sign_count)
        )
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": self.credential_id,
            "rawId": self.credential_id,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
            },
            "clientExtensionResults": {},
        }


def answer(key: SoftKey, user, binding) -> dict:
    """Step-up evidence of `key` for `binding`: a fresh challenge, signed."""
    from identity.passkeys import authentication_options

    options = authentication_options(user, binding)
    return {
        "challenge": options["challenge"],
        "passkey": json.dumps(key.assert_(options["publicKey"]["challenge"])),
    }


def virtual_authenticator(page) -> tuple[object, str]:
    """Chromium's virtual authenticator on this page's browser context: a platform
    authenticator with resident keys and user verification that always verifies."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def credentials(cdp, authenticator_id: str) -> list[dict]:
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
