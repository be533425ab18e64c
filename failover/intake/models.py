"""Integrations (a paging tool's secret, rules and limit) and the deliveries they send in."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Integration(models.Model):
    """A paging tool that sends alerts in: its own secret(s), mapping rules and intake limit."""

    name = models.SlugField(max_length=80, unique=True)
    # No choices here: the kinds are the registered tools (failover.intake.tools, above the
    # models), checked where an integration is made, so adding a tool changes no model.
    kind = models.CharField(max_length=20, help_text="The paging tool: its URL segment")
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="integrations",
        help_text="The service account the integration acts as (declares requests it opens)",
    )
    secrets = models.JSONField(
        default=list,
        blank=True,
        help_text="Encrypted or hashed secrets, several during rotation; never shown again",
    )
    rules = models.JSONField(default=dict, blank=True, help_text="How alerts map to services")
    services = models.ManyToManyField(
        "failover.Service",
        blank=True,
        related_name="integrations",
        help_text="The only services it may feed signals to (its account also needs 'declare' "
        "on each); empty feeds nothing",
    )
    rate_limit_per_minute = models.PositiveIntegerField(default=600)
    active = models.BooleanField(default=True)
    last_received_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "failover_integration"  # the table from before intake had an app
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class Delivery(models.Model):
    """One webhook delivery, stored raw before it is acknowledged, then processed by a task."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        DUPLICATE = "duplicate", "Duplicate"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused"  # outside the replay window, or not allowed to feed

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="deliveries"
    )
    external_id = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    outcome = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "failover_delivery"  # the table from before intake had an app
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                condition=~Q(external_id=""),
                name="delivery_once_per_external_id",
            )
        ]
        indexes = [models.Index(fields=["status", "received_at"])]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.integration.name} delivery {self.external_id or self.pk} ({self.status})"
