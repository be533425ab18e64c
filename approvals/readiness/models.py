"""Readiness of the failover target: evidence on the request, and the identity team's
attestations of secret rotations."""

from __future__ import annotations

from django.conf import settings
from django.db import models

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
