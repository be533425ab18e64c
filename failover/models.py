"""Core registry: what can fail over, where to, which DNS records move, and the requests."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from failover.authorities import AUTHORITIES
from failover.states import State


class GovernanceMode(models.TextChoices):
    DUAL_APPROVAL = "dual_approval", "Dual approval"
    PREAPPROVED_THRESHOLDS = "preapproved_thresholds", "Pre-approved thresholds"


class Service(models.Model):
    """Something that can fail over. Its authority chain is guardian permissions on this row."""

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    governance_mode = models.CharField(
        max_length=30, choices=GovernanceMode.choices, default=GovernanceMode.DUAL_APPROVAL
    )
    data_residency_region = models.CharField(
        max_length=50, blank=True, help_text="Primary data-residency region, e.g. eu-west"
    )
    customer_segments = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        permissions = list(AUTHORITIES.items())

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if not isinstance(self.customer_segments, list) or not all(
            isinstance(s, str) and s for s in self.customer_segments
        ):
            raise ValidationError({"customer_segments": "must be a list of segment names"})


class Target(models.Model):
    """An endpoint of a service, with what users meet there: identity provider, certificates,
    secrets and the region their data lives in."""

    class Role(models.TextChoices):
        PRIMARY = "primary", "Primary"
        FAILOVER = "failover", "Failover"
        REGIONAL_BACKUP = "regional_backup", "Regional backup"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="targets")
    name = models.SlugField(max_length=80)
    role = models.CharField(max_length=20, choices=Role.choices)
    active = models.BooleanField(default=False, help_text="Traffic goes here now")
    address = models.CharField(max_length=255, help_text="Host name or IP address")
    region = models.CharField(max_length=50, blank=True)
    cloud_account = models.CharField(max_length=100, blank=True)
    oidc_issuer = models.URLField(blank=True, help_text="Identity provider (OIDC issuer URL)")
    certificate_hostnames = models.JSONField(default=list, blank=True)
    certificate_trust = models.CharField(
        max_length=200, blank=True, help_text="CA or pinned bundle the certificates chain to"
    )
    secret_store = models.CharField(max_length=200, blank=True)
    data_residency_region = models.CharField(max_length=50, blank=True)
    health_url = models.URLField(blank=True)

    class Meta:
        ordering = ["service", "name"]
        constraints = [
            models.UniqueConstraint(fields=["service", "name"], name="target_unique_name"),
            models.UniqueConstraint(
                fields=["service"], condition=Q(active=True), name="target_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service.slug}/{self.name}"

    def identity_profile(self) -> dict:
        return {
            "oidc_issuer": self.oidc_issuer,
            "certificate_trust": self.certificate_trust,
            "certificate_hostnames": list(self.certificate_hostnames),
            "secret_store": self.secret_store,
            "data_residency_region": self.data_residency_region,
        }


class GovernedRecord(models.Model):
    """A DNS record set the product may change on the service's behalf."""

    class Routing(models.TextChoices):
        SIMPLE = "simple", "Simple"
        FAILOVER = "failover", "Failover (PRIMARY/SECONDARY)"
        WEIGHTED = "weighted", "Weighted (per customer segment)"

    class RecordType(models.TextChoices):
        A = "A"
        AAAA = "AAAA"
        CNAME = "CNAME"
        TXT = "TXT"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="records")
    provider_account = models.ForeignKey(
        "dnsproviders.ProviderAccount", on_delete=models.PROTECT, related_name="records"
    )
    zone = models.CharField(max_length=253, help_text="e.g. example.com.")
    name = models.CharField(max_length=253, help_text="Fully qualified, e.g. www.example.com.")
    rtype = models.CharField("type", max_length=10, choices=RecordType.choices)
    ttl = models.PositiveIntegerField(default=60)
    routing = models.CharField(max_length=20, choices=Routing.choices, default=Routing.SIMPLE)
    set_identifier = models.CharField(max_length=128, blank=True)
    failover_role = models.CharField(
        max_length=10, blank=True, choices=[("PRIMARY", "PRIMARY"), ("SECONDARY", "SECONDARY")]
    )
    health_check_id = models.CharField(max_length=64, blank=True)
    segment = models.CharField(max_length=80, blank=True, help_text="Customer segment (weighted)")
    weight = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["service", "name", "rtype", "set_identifier"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider_account", "zone", "name", "rtype", "set_identifier"],
                name="record_unique_rrset",
            ),
            # Drill records (failover/plans.py `drill_name`) carry no traffic by definition:
            # no door may make one a governed record, or a drill would move it.
            models.CheckConstraint(
                condition=~Q(name__istartswith="failover-drill."),
                name="record_not_a_drill_record",
                violation_error_message="failover-drill.* names are the drills' own records",
            ),
        ]

    def __str__(self) -> str:
        suffix = f" [{self.set_identifier}]" if self.set_identifier else ""
        return f"{self.name} {self.rtype}{suffix}"

    def clean(self):
        errors = {}
        for field in ("zone", "name"):
            value = getattr(self, field)
            if value and not value.endswith("."):
                errors[field] = "must be fully qualified and end with a dot"
        if (
            self.zone
            and self.name
            and not (self.name == self.zone or self.name.endswith("." + self.zone))
        ):
            errors["name"] = f"{self.name} is not inside zone {self.zone}"
        if self.routing == self.Routing.FAILOVER and (
            not self.failover_role or not self.set_identifier
        ):
            errors["failover_role"] = (
                "failover routing needs PRIMARY/SECONDARY and a set identifier"
            )
        if self.routing == self.Routing.WEIGHTED and (
            not self.segment or not self.set_identifier or self.weight is None
        ):
            errors["segment"] = "weighted routing needs a segment, a set identifier and a weight"
        if self.routing == self.Routing.SIMPLE and (self.set_identifier or self.failover_role):
            errors["routing"] = "simple records take no set identifier or failover role"
        if errors:
            raise ValidationError(errors)


def validate_record_values(rtype: str, values: object) -> list[str]:
    """Check values for a record type; returns them normalised or raises ValidationError."""
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise ValidationError("values must be a non-empty list of strings")
    cleaned = []
    for value in values:
        value = value.strip()
        if rtype in ("A", "AAAA"):
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                raise ValidationError(f"{value!r} is not an IP address") from None
            if (rtype == "A") != (address.version == 4):
                raise ValidationError(f"{value!r} is not a valid {rtype} value")
            value = str(address)
        elif rtype == "CNAME":
            if len(values) != 1:
                raise ValidationError("a CNAME has exactly one value")
            if not value.endswith("."):
                raise ValidationError("a CNAME value must be fully qualified and end with a dot")
        cleaned.append(value)
    return sorted(set(cleaned))


class RecordValue(models.Model):
    """What a governed record says when traffic goes to a given target."""

    record = models.ForeignKey(GovernedRecord, on_delete=models.CASCADE, related_name="values")
    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="record_values")
    values = models.JSONField(help_text='e.g. ["192.0.2.10"]')

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record", "target"], name="record_value_unique")
        ]

    def __str__(self) -> str:
        return f"{self.record} -> {self.target.name}: {', '.join(self.values)}"

    def clean(self):
        if self.record_id and self.target_id and self.record.service_id != self.target.service_id:
            raise ValidationError("the target belongs to another service")
        if self.record_id:
            try:
                self.values = validate_record_values(self.record.rtype, self.values)
            except ValidationError as exc:
                raise ValidationError({"values": exc.messages}) from None


class Metric(models.TextChoices):
    ERROR_RATE = "error_rate", "Error rate (%)"
    REGIONAL_LOSS = "regional_loss", "Regional loss (% capacity lost)"
    CONTROL_PLANE = "control_plane", "Control-plane failure"


class Threshold(models.Model):
    """A condition under which failover is pre-approved (in pre-approved mode)."""

    class Comparison(models.TextChoices):
        GTE = "gte", "at least"
        LTE = "lte", "at most"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="thresholds")
    metric = models.CharField(max_length=30, choices=Metric.choices)
    comparison = models.CharField(max_length=3, choices=Comparison.choices, default="gte")
    value = models.FloatField()
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["service", "metric"]

    def __str__(self) -> str:
        return f"{self.metric} {self.get_comparison_display()} {self.value:g}"


class Signal(models.Model):
    """A measurement or alert reported against a service, usually by a paging tool."""

    class Status(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="signals")
    metric = models.CharField(max_length=30, choices=Metric.choices)
    value = models.FloatField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.FIRING)
    source = models.CharField(max_length=30, default="manual")
    external_id = models.CharField(max_length=200, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["service", "status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.service.slug} {self.metric}={self.value:g} ({self.status})"


class FailoverRequest(models.Model):
    """A proposal to move a service's traffic to another target, and its whole life."""

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="requests")
    from_target = models.ForeignKey(Target, on_delete=models.PROTECT, related_name="+")
    to_target = models.ForeignKey(Target, on_delete=models.PROTECT, related_name="+")
    segment = models.CharField(max_length=80, blank=True, help_text="Only this customer segment")
    reason = models.TextField()
    incident_ref = models.CharField(max_length=200, blank=True, db_index=True)
    drill = models.BooleanField(
        default=False,
        help_text="A rehearsal: the plan moves the service's drill records, never its traffic",
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="failover_requests"
    )
    rollback_criteria = models.JSONField(default=dict)
    plan = models.JSONField(default=dict)
    plan_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(help_text="A request still open then expires")
    approved_at = models.DateTimeField(null=True, blank=True)
    origin_signal = models.ForeignKey(
        Signal,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requests",
        help_text="The alert that opened this request, when a paging tool did",
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    rollback_proposed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the rollback criteria were first met"
    )
    rollback_deadline_at = models.DateTimeField(
        null=True, blank=True, help_text="When the rollback authority was paged to decide"
    )
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["service", "state"]), models.Index(fields=["state"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.service.slug}: {self.from_target.name} -> {self.to_target.name}"


class Heartbeat(models.Model):
    """When a background role last showed it is alive: "beat" (the scheduler) and
    "queue:<name>" (a worker took that queue's heartbeat task). Freshness rules:
    failover/heartbeat.py."""

    name = models.CharField(max_length=100, primary_key=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at.isoformat()}"
