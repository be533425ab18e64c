from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity"

    def ready(self):
        # Connects its receiver (records the sign-in time), once the app registry is ready.
        from identity import sessions  # noqa: F401, PLC0415
