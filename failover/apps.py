from django.apps import AppConfig


class FailoverConfig(AppConfig):
    name = "failover"
    verbose_name = "Failover registry"

    def ready(self):
        # Connect the receivers (the audit of authority-chain changes) once the app registry
        # is ready: they import models. Notifications connect theirs in failover.notify.
        from failover import receivers  # noqa: F401, PLC0415
