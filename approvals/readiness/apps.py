from django.apps import AppConfig


class ReadinessConfig(AppConfig):
    """Readiness of a failover target: governance evidence, so it lives under approvals."""

    name = "approvals.readiness"
    label = "readiness"
    verbose_name = "Readiness checks"
