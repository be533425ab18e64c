"""Checking a stored passkey proof again, from its fields alone: that this person's key signed
this act on this object and plan ("provably for this plan by this person's key").

WebAuthn's signature covers authenticatorData || SHA-256(clientDataJSON); clientDataJSON holds
the challenge, which for a step-up is identity.challenges.challenge_digest of the person, the
binding and the nonce. So recomputing the digest from the proof's act, target and plan hash,
and verifying the signature with the passkey's public key, shows what the key confirmed: change
any of them in the database and the check fails. The public key is also in the audit event of
the passkey's enrolment, so a proof stays checkable after its passkey is removed.
"""

from __future__ import annotations

import hashlib
import json

from cryptography.exceptions import InvalidSignature
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.decode_credential_public_key import decode_credential_public_key
from webauthn.helpers.decoded_public_key_to_cryptography import (
    decoded_public_key_to_cryptography,
)
from webauthn.helpers.verify_signature import verify_signature

from audit.actions import IDENTITY_PASSKEY_ADDED
from audit.models import AuditEvent
from identity import passkeys
from identity.challenges import Binding, challenge_digest
from identity.models import StepUpProof

FLAG_USER_PRESENT = 0x01
FLAG_USER_VERIFIED = 0x04


def public_key_of(proof: StepUpProof) -> bytes | None:
    """The COSE public key of the proof's passkey: from the passkey, else from the audit event
    that recorded its enrolment (the passkey was removed since)."""
    if proof.passkey is not None and proof.passkey.credential_id == proof.credential_id:
        if proof.passkey.user_id != proof.user_id:
            return None
        return bytes(proof.passkey.public_key)
    events = AuditEvent.objects.filter(
        action=IDENTITY_PASSKEY_ADDED, actor_id=proof.user_id
    ).order_by("seq")
    for event in events:
        if (event.data or {}).get("credential_id") == proof.credential_id:
            return base64url_to_bytes(event.data["public_key"])
    return None


def check_proof(proof: StepUpProof) -> tuple[bool, str]:
    """(True, what it proves) or (False, why not)."""
    if proof.method != StepUpProof.Method.PASSKEY:
        return False, f"a {proof.get_method_display().lower()} step-up carries no signature"
    if not (proof.client_data_json and proof.authenticator_data and proof.signature):
        return False, "the proof keeps no assertion"
    key = public_key_of(proof)
    if key is None:
        return False, "the passkey's public key is not known (not this person's passkey?)"
    try:
        client_data = json.loads(proof.client_data_json)
        auth_data = base64url_to_bytes(proof.authenticator_data)
        signature = base64url_to_bytes(proof.signature)
    except (ValueError, TypeError):
        return False, "the stored assertion is not well-formed"
    if not isinstance(client_data, dict) or client_data.get("type") != "webauthn.get":
        return False, "the signed data is not a WebAuthn assertion"
    binding = Binding(proof.act, proof.target, proof.plan_hash)
    expected = bytes_to_base64url(challenge_digest(proof.user_id, binding, proof.nonce))
    if client_data.get("challenge") != expected:
        return False, "the key signed another act, object or plan than the proof names"
    if client_data.get("origin") not in passkeys.origins():
        return False, f"the assertion was made for another site ({client_data.get('origin')})"
    if len(auth_data) < 37 or auth_data[:32] != hashlib.sha256(passkeys.rp_id().encode()).digest():
        return False, "the assertion was made for another relying party"
    if not auth_data[32] & FLAG_USER_PRESENT or not auth_data[32] & FLAG_USER_VERIFIED:
        return False, "the person was not verified by the key"
    signed = auth_data + hashlib.sha256(proof.client_data_json.encode()).digest()
    try:
        decoded = decode_credential_public_key(key)
        verify_signature(
            public_key=decoded_public_key_to_cryptography(decoded),
            signature_alg=decoded.alg,
            signature=signature,
            data=signed,
        )
    except InvalidSignature:
        return False, "the signature does not verify with the passkey's public key"
    except Exception as exc:  # an unsupported or damaged key: say so, not a traceback
        return False, f"the passkey's public key cannot verify signatures here ({exc})"
    return True, (
        f"passkey {proof.credential_id[:16]}… of {proof.user} signed {proof.act} "
        f"{proof.target or '(no object)'} plan {proof.plan_hash or '(none)'}"
    )
