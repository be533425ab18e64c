from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self):
        # Sign-ins are audited; checks of the role, the signing key and the checkpoint stores.
        # Imported once the app registry is ready: they define receivers and import models.
        from audit import checkpoints, receivers, roles  # noqa: F401, PLC0415

        connection_created.connect(roles.warn_once, dispatch_uid="audit.role_warning")
        post_migrate.connect(roles.grant_after_migrate, sender=self, dispatch_uid="audit.grant")
