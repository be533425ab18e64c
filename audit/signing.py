"""The Ed25519 keys that sign audit checkpoints (audit/checkpoints.py) and the public keys that
check them (audit/evidence.py, audit/offline_verify.py).

- AUDIT_SIGNING_KEY (or AUDIT_SIGNING_KEY_FILE): "KEY_ID:BASE64 32-byte seed", the one key that
  signs new checkpoints. Only the worker needs it; whoever holds it can sign a rewritten history.
- AUDIT_VERIFY_KEYS: "KEY_ID:BASE64 public key" of retired signing keys, comma-separated, so the
  checkpoints they signed still verify. Rotating = a new AUDIT_SIGNING_KEY, the old key's public
  half added here (`manage.py audit_keys public` prints it before the switch).
- With DEBUG on and no key set, a key is generated once into VAR_DIR (mode 0600) so `make run`
  takes checkpoints; with DEBUG off and no key, none are taken and the verifiers and `manage.py
  check` say so.
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from audit.offline_verify import KEY_ID, parse_key

logger = logging.getLogger(__name__)

NO_KEY = (
    "no signing key configured (AUDIT_SIGNING_KEY): audit checkpoints are not being taken, so "
    "someone holding the database can rewrite or cut the audit history undetected"
)


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey

    @classmethod
    def from_text(cls, text: str) -> SigningKey:
        key_id, seed = parse_key(text)
        return cls(key_id, Ed25519PrivateKey.from_private_bytes(seed))

    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def public_text(self) -> str:
        return f"{self.key_id}:{_b64(self.public_bytes())}"

    def private_text(self) -> str:
        return f"{self.key_id}:{_b64(_seed(self.private))}"

    def sign(self, body: bytes) -> str:
        return _b64(self.private.sign(body))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _seed(private: Ed25519PrivateKey) -> bytes:
    return private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def new_key(key_id: str) -> SigningKey:
    if not KEY_ID.match(key_id):
        raise ValueError("a key id is 1-64 letters, digits, '.', '_' or '-'")
    return SigningKey(key_id, Ed25519PrivateKey.generate())


def signing_key() -> SigningKey | None:
    """The key new checkpoints are signed with; None when there is none (DEBUG off, not set)."""
    text = settings.AUDIT_SIGNING_KEY
    if text:
        try:
            return SigningKey.from_text(text)
        except ValueError as problem:
            raise ImproperlyConfigured(f"AUDIT_SIGNING_KEY: {problem}") from None
    if settings.AUDIT_LOCAL_SIGNING_KEY_FILE:
        return _local_key(Path(settings.AUDIT_LOCAL_SIGNING_KEY_FILE))
    return None


def _local_key(path: Path) -> SigningKey:
    """The development key in `path`, generated the first time. Written whole under a temporary
    name and linked into place, so a web process and a worker starting together both end up
    with the one key (the loser of the race reads the winner's)."""
    if not path.exists():
        key = new_key(f"local-{datetime.now(UTC):%Y%m%d}")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
        try:
            os.fchmod(handle, 0o600)
            os.write(handle, (key.private_text() + "\n").encode())
            os.fsync(handle)
            os.close(handle)
            os.link(temporary, path)
            logger.warning(
                "audit: generated a development checkpoint signing key %s in %s (DEBUG is on "
                "and AUDIT_SIGNING_KEY is not set)",
                key.key_id,
                path,
            )
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    try:
        return SigningKey.from_text(path.read_text())
    except ValueError as problem:
        raise ImproperlyConfigured(f"{path}: {problem}") from None


def public_keys() -> dict[str, bytes]:
    """Every key id whose checkpoints are trusted -> its raw public key: the signing key's and
    the retired ones in AUDIT_VERIFY_KEYS."""
    keys: dict[str, bytes] = {}
    for text in settings.AUDIT_VERIFY_KEYS:
        try:
            key_id, public = parse_key(text)
        except ValueError as problem:
            raise ImproperlyConfigured(f"AUDIT_VERIFY_KEYS: {problem}") from None
        if keys.get(key_id, public) != public:
            raise ImproperlyConfigured(f"AUDIT_VERIFY_KEYS: two different keys named {key_id!r}")
        keys[key_id] = public
    current = signing_key()
    if current is not None:
        if keys.get(current.key_id, current.public_bytes()) != current.public_bytes():
            raise ImproperlyConfigured(
                f"AUDIT_VERIFY_KEYS has another key named {current.key_id!r}, the signing key's "
                "id: a new key needs a new id"
            )
        keys[current.key_id] = current.public_bytes()
    return keys


def key_problem() -> str:
    """What to tell an operator when checkpoints cannot be signed; empty when they can."""
    try:
        return "" if signing_key() is not None else NO_KEY
    except ImproperlyConfigured as problem:
        return str(problem)


@checks.register(checks.Tags.security)
def check_signing_key(app_configs=None, **kwargs):
    problem = key_problem()
    if problem == NO_KEY:
        return [checks.Warning(NO_KEY, hint="see README, 'Audit checkpoints'", id="audit.W010")]
    if problem:
        return [checks.Error(problem, id="audit.E010")]
    try:
        public_keys()
    except ImproperlyConfigured as problem:
        return [checks.Error(str(problem), id="audit.E011")]
    return []
