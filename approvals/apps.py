from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Governance"

    def ready(self):
        from approvals import receivers  # noqa: F401  (approvals void when authority is lost)
