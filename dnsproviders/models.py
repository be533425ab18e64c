from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

# Settings keys that would mean a credential is being written into the database.
_SECRET_WORDS = ("secret", "password", "passwd", "token", "private", "access_key")


class ProviderAccount(models.Model):
    """Where governed records live and how to reach them. Holds no secrets: credentials come
    from the AWS credential chain, or from an environment variable / file named here."""

    class Kind(models.TextChoices):
        ZONE_FILE = "zonefile", "Zone file (embedded)"
        ROUTE53 = "route53", "Amazon Route 53"
        RFC2136 = "rfc2136", "RFC 2136 dynamic update"

    name = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text="Non-secret settings: role_arn/external_id (Route 53), server/port/key_name/"
        "secret_env or secret_file (RFC 2136), directory (zone file).",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self):
        if not isinstance(self.settings, dict):
            raise ValidationError({"settings": "must be a JSON object"})
        for key in self.settings:
            lowered = key.lower()
            if lowered.endswith(("_env", "_file")):
                continue
            if any(word in lowered for word in _SECRET_WORDS):
                raise ValidationError(
                    {
                        "settings": f"{key!r} looks like a secret; store it in an environment "
                        f"variable or file and name that with {key}_env or {key}_file"
                    }
                )


class DnsChange(models.Model):
    """One application of a plan to one zone of one provider: the outbox row written in the
    transaction that decided to execute, then claimed and advanced by the worker."""

    class Direction(models.TextChoices):
        FAILOVER = "failover", "Failover"
        ROLLBACK = "rollback", "Rollback"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SUBMITTING = "submitting", "Submitting"
        SUBMITTED = "submitted", "Submitted"
        INSYNC = "insync", "In sync"
        VERIFIED = "verified", "Verified"
        FAILED = "failed", "Failed"

    request = models.ForeignKey(
        "failover.FailoverRequest", on_delete=models.PROTECT, related_name="changes"
    )
    direction = models.CharField(max_length=10, choices=Direction.choices)
    provider_account = models.ForeignKey(ProviderAccount, on_delete=models.PROTECT)
    zone = models.CharField(max_length=253)
    changes = models.JSONField(help_text="The plan's changes for this zone, as applied")
    plan_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    provider_change_id = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    insync_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # Exactly once at the database level: one change per request, direction and zone.
            models.UniqueConstraint(
                fields=["request", "direction", "provider_account", "zone"],
                name="dnschange_once_per_zone",
            )
        ]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.direction} of #{self.request_id} in {self.zone} ({self.status})"


class ZoneLock(models.Model):
    """Row locked while claiming a change, so one zone has one change in flight at a time."""

    provider_account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE)
    zone = models.CharField(max_length=253)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider_account", "zone"], name="zonelock_unique")
        ]

    def __str__(self) -> str:
        return f"lock {self.provider_account_id}:{self.zone}"


class RateBucket(models.Model):
    """A token bucket shared by every worker process (e.g. Route 53's per-account limit)."""

    key = models.CharField(max_length=200, unique=True)
    tokens = models.FloatField()
    updated_at = models.DateTimeField()
    # How often, and how long, takers slept for a token: read by /metrics (failover/metrics.py).
    waits = models.PositiveBigIntegerField(default=0)
    waited_seconds = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"{self.key}: {self.tokens:.1f}"


class RollbackCheck(models.Model):
    """A scheduled evaluation of a request's rollback criteria (rows, not long ETA tasks)."""

    request = models.ForeignKey(
        "failover.FailoverRequest", on_delete=models.CASCADE, related_name="rollback_checks"
    )
    due_at = models.DateTimeField(db_index=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    met = models.BooleanField(null=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["due_at", "id"]

    def __str__(self) -> str:
        return f"rollback check of #{self.request_id} due {self.due_at:%Y-%m-%d %H:%M}"
