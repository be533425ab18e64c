"""Readiness of the failover target: evidence on the request, and the identity team's
attestations of secret rotations."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from failover.secrets import decrypt, encrypt

# Audit events name their object by app label: those written before readiness had an app of its
# own say "dnsproviders.…", and stay what they were (the chain hashes them).
READINESS_CHECK_TYPES = ("readiness.readinesscheck", "dnsproviders.readinesscheck")
SECRET_ATTESTATION_TYPES = ("readiness.secretattestation", "dnsproviders.secretattestation")


class ReadinessCheck(models.Model):
    """One readiness check of a request's target, kept as evidence. A failing identity-critical
    check is a system veto on the request until a holder of `veto` lifts it with a reason."""

    class Kind(models.TextChoices):
        TLS = "tls", "TLS certificates"
        IDENTITY_PROVIDER = "identity_provider", "Identity provider"
        SECRETS = "secrets", "Secrets rotation"
        HEALTH = "health", "Health"
        # Identity end to end (issue 17): evidence, not identity-critical (no system veto).
        IDENTITY_SIGN_IN = "identity_sign_in", "Identity drill: synthetic sign-in"
        SIGNING_KEY_OVERLAP = "signing_key_overlap", "Identity drill: signing-key overlap"
        CERT_FINGERPRINT = "cert_fingerprint", "Identity drill: certificate fingerprint"

    request = models.ForeignKey(
        "failover.FailoverRequest", on_delete=models.PROTECT, related_name="readiness_checks"
    )
    target = models.ForeignKey("failover.Target", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    identity_critical = models.BooleanField()
    ok = models.BooleanField()
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    checked_at = models.DateTimeField(db_index=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    lift_reason = models.TextField(blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "dnsproviders_readinesscheck"  # the table from before readiness had an app
        ordering = ["request", "kind", "-checked_at", "-id"]
        indexes = [models.Index(fields=["request", "kind", "-checked_at"])]

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return f"{self.get_kind_display()} of #{self.request_id}: {verdict}"

    @property
    def is_system_veto(self) -> bool:
        return self.identity_critical and not self.ok and self.lifted_at is None


class SecretAttestation(models.Model):
    """The identity team's statement that a secret the target depends on was rotated then."""

    target = models.ForeignKey(
        "failover.Target", on_delete=models.CASCADE, related_name="secret_attestations"
    )
    secret_name = models.CharField(max_length=200)
    rotated_at = models.DateTimeField()
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "dnsproviders_secretattestation"
        ordering = ["target", "secret_name", "-rotated_at"]

    def __str__(self) -> str:
        return f"{self.target_id}/{self.secret_name} rotated {self.rotated_at:%Y-%m-%d}"


def fingerprints(value: str) -> list[str]:
    """The SHA-256 fingerprints of a comma-separated value (hex; colons and spaces allowed),
    as 64 lower-case hex digits each; ValidationError naming a bad one."""
    found = []
    for item in (value or "").split(","):
        clean = re.sub(r"[\s:]", "", item).lower()
        if not clean:
            continue
        if not re.fullmatch(r"[0-9a-f]{64}", clean):
            raise ValidationError(
                f"{item.strip()[:100]!r} is not a SHA-256 fingerprint (64 hex digits, colons "
                "allowed)"
            )
        found.append(clean)
    return found


class IdentityDrillClient(models.Model):
    """How a drill tests a target's identity stack end to end (issue 17): the client it signs in
    with at the target's identity provider (client credentials; the secret stored encrypted and
    never shown) and the certificate the target is expected to serve."""

    target = models.OneToOneField(
        "failover.Target", on_delete=models.CASCADE, related_name="identity_drill"
    )
    client_id = models.CharField(max_length=200, blank=True)
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    audience = models.CharField(
        max_length=500, blank=True, help_text="The audience (aud) the drill's token must carry"
    )
    scope = models.CharField(max_length=500, blank=True, help_text="Sent with the request, if set")
    expected_certificate_sha256 = models.CharField(
        max_length=400,
        blank=True,
        help_text="SHA-256 fingerprint of the certificate the target serves; during a rotation "
        "several, comma-separated",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["target"]

    def __str__(self) -> str:
        return f"identity drill of {self.target}"

    def clean(self) -> None:
        try:
            self.expected_certificate_sha256 = ", ".join(
                fingerprints(self.expected_certificate_sha256)
            )
        except ValidationError as exc:
            raise ValidationError({"expected_certificate_sha256": exc.messages}) from None

    def set_client_secret(self, plain: str) -> None:
        self.client_secret_encrypted = encrypt(plain) if plain else ""

    def client_secret(self) -> str:
        """The plain secret ("" when none is set); ValueError when no configured key opens it."""
        return decrypt(self.client_secret_encrypted) if self.client_secret_encrypted else ""

    @property
    def has_secret(self) -> bool:
        return bool(self.client_secret_encrypted)
