"""Passkeys (WebAuthn, py_webauthn): enrolment, and step-up assertions bound to the act and plan.

The challenge a passkey signs for a step-up is `identity.challenges.challenge_digest` of the
person, the binding (act, object, plan hash) and a one-time nonce: the assertion, kept whole in
the StepUpProof, shows later that this key confirmed exactly this act on this plan
(identity/proofs.py re-checks it from the stored fields alone).

User verification is required (the key's PIN or biometrics, not only a touch), so a stolen
unlocked security key alone confirms nothing. A signature counter that goes backwards means a
cloned key: refused.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from audit.actions import IDENTITY_PASSKEY_ADDED
from audit.services import record_event
from identity.challenges import (
    Binding,
    StepUpError,
    WrongAnswer,
    challenge_digest,
    new_challenge,
    open_challenge,
)
from identity.models import Passkey

REGISTRATION = "identity.passkey_registration"  # session key: the pending enrolment challenge
REGISTRATION_MAX_AGE = 300  # seconds between the options and the attestation
TIMEOUT_MS = 120_000
MAX_CREDENTIAL_JSON = 64_000  # characters of a posted credential


def rp_id() -> str:
    return settings.WEBAUTHN_RP_ID or urlsplit(settings.PUBLIC_BASE_URL).hostname


def origins() -> list[str]:
    configured = list(settings.WEBAUTHN_ORIGINS or [])
    return configured or [settings.PUBLIC_BASE_URL.rstrip("/")]


def available(user) -> bool:
    return bool(getattr(user, "pk", None)) and user.passkeys.exists()


def _descriptors(user) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
        for p in user.passkeys.all()
    ]


def _load(credential) -> dict:
    """A posted credential: the JSON of PublicKeyCredential.toJSON() (a form field) or the
    object itself (an API body)."""
    if isinstance(credential, str):
        if len(credential) > MAX_CREDENTIAL_JSON:
            raise WrongAnswer("that passkey answer is too long")
        try:
            credential = json.loads(credential)
        except ValueError:
            raise WrongAnswer("that passkey answer is not valid JSON") from None
    if not isinstance(credential, dict) or not isinstance(credential.get("id"), str):
        raise WrongAnswer("that passkey answer has no credential id")
    return credential


# --- enrolment --------------------------------------------------------------------------------


def registration_options(request) -> dict:
    """Options for navigator.credentials.create; the challenge waits in the session."""
    user = request.user
    challenge = secrets.token_bytes(32)
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name="Failover approvals",
        user_name=user.get_username(),
        user_id=f"failover-user:{user.pk}".encode(),
        user_display_name=user.get_full_name() or user.get_username(),
        challenge=challenge,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(user),
    )
    request.session[REGISTRATION] = {"c": bytes_to_base64url(challenge), "t": int(time.time())}
    return json.loads(options_to_json(options))


def register(request, credential, name: str) -> Passkey:
    """Verify the attestation answering this session's options and keep the passkey; a plain
    StepUpError reason if it does not verify."""
    pending = request.session.pop(REGISTRATION, None)
    if not pending or time.time() - pending.get("t", 0) > REGISTRATION_MAX_AGE:
        raise StepUpError("the passkey enrolment took too long or was not started: try again")
    try:
        data = _load(credential)
        verified = verify_registration_response(
            credential=data,
            expected_challenge=base64url_to_bytes(pending["c"]),
            expected_rp_id=rp_id(),
            expected_origin=origins(),
            require_user_verification=True,
        )
    except WrongAnswer as exc:
        raise StepUpError(str(exc)) from None
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise StepUpError(f"the new passkey did not verify: {exc}") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if Passkey.objects.filter(credential_id=credential_id).exists():
        raise StepUpError("that passkey is already enrolled")
    with transaction.atomic():
        passkey = Passkey.objects.create(
            user=request.user,
            name=name,
            credential_id=credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=[t for t in data.get("response", {}).get("transports", []) if t][:10],
            aaguid=str(verified.aaguid or "")[:36],
        )
        # The public key goes into the audit log too: a proof stays checkable after its
        # passkey is removed (identity/proofs.py).
        record_event(
            action=IDENTITY_PASSKEY_ADDED,
            obj=passkey,
            data={
                "user": request.user.get_username(),
                "name": name,
                "credential_id": credential_id,
                "public_key": bytes_to_base64url(verified.credential_public_key),
                "aaguid": passkey.aaguid,
                "step_up": getattr(request, "passkey_step_up", None),
            },
        )
    return passkey


# --- step-up -------------------------------------------------------------------------------


def authentication_options(user, binding: Binding) -> dict:
    """A challenge for this binding: `challenge` (the signed token the answer carries back)
    and `publicKey` (the options for navigator.credentials.get)."""
    if not available(user):
        raise StepUpError("you have no passkey: add one on your security page")
    issued = new_challenge(user, binding)
    options = generate_authentication_options(
        rp_id=rp_id(),
        challenge=issued["digest"],
        timeout=TIMEOUT_MS,
        allow_credentials=_descriptors(user),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return {"challenge": issued["token"], "publicKey": json.loads(options_to_json(options))}


def verify(user, binding: Binding, evidence) -> dict:
    """The proof fields of a passkey assertion of this binding by one of this person's
    passkeys; WrongAnswer (counted) when it does not verify."""
    nonce = open_challenge(user, binding, str(evidence.get("challenge") or ""))
    data = _load(evidence.get("passkey"))
    with transaction.atomic():
        passkey = (
            Passkey.objects.select_for_update().filter(user=user, credential_id=data["id"]).first()
        )
        if passkey is None:
            raise WrongAnswer("that passkey is not one of yours (was it removed?)")
        try:
            verified = verify_authentication_response(
                credential=data,
                expected_challenge=challenge_digest(user.pk, binding, nonce),
                expected_rp_id=rp_id(),
                expected_origin=origins(),
                credential_public_key=bytes(passkey.public_key),
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise WrongAnswer(f"the passkey's answer did not verify ({exc})") from None
        passkey.sign_count = verified.new_sign_count
        passkey.last_used_at = timezone.now()
        passkey.save(update_fields=["sign_count", "last_used_at"])
    response = data["response"]
    return {
        "nonce": nonce,
        "passkey": passkey,
        "credential_id": passkey.credential_id,
        "client_data_json": base64url_to_bytes(response["clientDataJSON"]).decode(),
        "authenticator_data": _b64(response["authenticatorData"]),
        "signature": _b64(response["signature"]),
    }


def _b64(value: str) -> str:
    """Canonical base64url (no padding) of a posted base64url or base64 value."""
    return base64.urlsafe_b64encode(base64url_to_bytes(value)).decode().rstrip("=")
