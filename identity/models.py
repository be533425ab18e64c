"""Who people are and how they prove it: their identity at the organisation's provider, their
passkeys, the step-up proofs their acts carry, and the two-admin reset of lost credentials."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ExternalIdentity(models.Model):
    """The person at the organisation's identity provider (OIDC issuer + subject)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identity"
    )
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    # The provider's groups at the last sign-in, as the provider named them.
    groups = models.JSONField(default=list, blank=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="one_user_per_subject")
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class Passkey(models.Model):
    """A WebAuthn credential: its public key verifies the step-up assertions it signs."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkeys"
    )
    name = models.CharField(max_length=100)
    credential_id = models.CharField(max_length=1400, unique=True, help_text="base64url")
    public_key = models.BinaryField(help_text="COSE public key")
    sign_count = models.PositiveBigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=36, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"passkey {self.name} of {self.user}"


class StepUpProof(models.Model):
    """One confirmation that the person acting is the person signed in, bound to what they
    confirmed: the act, its object (e.g. `request:12`) and the plan hash.

    For a passkey the assertion is kept whole: anyone holding the passkey's public key can
    check later that this key signed this act on this plan (identity/proofs.py)."""

    class Method(models.TextChoices):
        PASSKEY = "passkey", "Passkey"
        TOTP = "totp", "Authenticator app code"
        RECOVERY = "recovery", "Recovery code"
        PROVIDER = "provider", "Identity provider re-authentication"
        PASSWORD = "password", "Password"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    method = models.CharField(max_length=10, choices=Method.choices)
    act = models.CharField(max_length=30)
    target = models.CharField(max_length=100, blank=True)
    plan_hash = models.CharField(max_length=64, blank=True)
    # Unique: a challenge (and so an assertion) is accepted once.
    nonce = models.CharField(max_length=64, unique=True)
    passkey = models.ForeignKey(
        Passkey, null=True, blank=True, on_delete=models.SET_NULL, related_name="proofs"
    )
    credential_id = models.CharField(max_length=1400, blank=True)
    client_data_json = models.TextField(blank=True)
    authenticator_data = models.TextField(blank=True, help_text="base64url")
    signature = models.TextField(blank=True, help_text="base64url")
    device = models.CharField(max_length=200, blank=True, help_text="which code or provider")
    created_at = models.DateTimeField(auto_now_add=True)
    # When the act it confirmed was done. A provider re-authentication is proved before the
    # act (the round trip to the provider) and used by the next submission bound to it.
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.method} step-up of {self.user} for {self.act} {self.target}"

    def summary(self) -> dict:
        """What an audit event says of it: for a passkey, the whole assertion, so the hash
        chain keeps it and the proof can be checked from the audit log alone."""
        summary = {
            "id": self.pk,
            "method": self.method,
            "act": self.act,
            "target": self.target,
            "plan_hash": self.plan_hash,
            "nonce": self.nonce,
        }
        if self.method == self.Method.PASSKEY:
            summary["assertion"] = {
                "credential_id": self.credential_id,
                "client_data_json": self.client_data_json,
                "authenticator_data": self.authenticator_data,
                "signature": self.signature,
            }
        elif self.device:
            summary["device"] = self.device
        return summary


class CredentialReset(models.Model):
    """An administrator's request to remove a person's passkeys and authenticator codes (a lost
    key): it takes effect only when a second administrator approves it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"credential reset of {self.user}"
