from django.apps import AppConfig


class NotifyConfig(AppConfig):
    """Outbound notifications: endpoints and their outbox, a wing of the failover registry."""

    name = "failover.notify"
    label = "notify"
    verbose_name = "Outbound notifications"

    def ready(self) -> None:
        # Queue notifications from audit events once the app registry is ready: the
        # receivers import models.
        from failover.notify import receivers  # noqa: F401, PLC0415
