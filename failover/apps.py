from django.apps import AppConfig


class FailoverConfig(AppConfig):
    name = "failover"
    verbose_name = "Failover registry"

    def ready(self):
        # Connect the receivers (the audit of authority-chain changes) once the app registry
        # is ready: they import models. Notifications connect theirs in failover.notify.
        # And the Celery signal handlers that carry the request id into tasks (web) and back
        # onto the worker's log lines (failover/logcontext.py).
        from failover import logcontext, receivers  # noqa: F401, PLC0415
