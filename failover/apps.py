from django.apps import AppConfig


class FailoverConfig(AppConfig):
    name = "failover"
    verbose_name = "Failover registry"

    def ready(self):
        from failover import receivers  # noqa: F401  (audit of authority-chain changes)
        from failover.notify import receivers as notify_receivers  # noqa: F401  (outbound notifications)
