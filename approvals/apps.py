from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Governance"

    def ready(self):
        # Connects its receivers (approvals void when authority is lost), once models load.
        from approvals import receivers  # noqa: F401, PLC0415
