from django.apps import AppConfig


class IntakeConfig(AppConfig):
    """Paging-tool intake: integrations and their deliveries, a wing of the failover registry."""

    name = "failover.intake"
    label = "intake"
    verbose_name = "Paging-tool intake"
