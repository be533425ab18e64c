from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity"

    def ready(self):
        from identity import sessions  # noqa: F401 (records the sign-in time in the session)
