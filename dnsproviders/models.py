from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

# Settings keys that would mean a credential is being written into the database.
_SECRET_WORDS = ("secret", "password", "passwd", "token", "private", "access_key")


class ProviderAccount(models.Model):
    """Where governed records live and how to reach them. Holds no secrets: credentials come
    from the AWS credential chain, or from an environment variable / file named here."""

    class Kind(models.TextChoices):
        ZONE_FILE = "zonefile", "Zone file (embedded)"
        ROUTE53 = "route53", "Amazon Route 53"
        RFC2136 = "rfc2136", "RFC 2136 dynamic update"

    name = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text="Non-secret settings: role_arn/external_id (Route 53), server/port/key_name/"
        "secret_env or secret_file (RFC 2136), directory (zone file).",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self):
        if not isinstance(self.settings, dict):
            raise ValidationError({"settings": "must be a JSON object"})
        for key in self.settings:
            lowered = key.lower()
            if lowered.endswith(("_env", "_file")):
                continue
            if any(word in lowered for word in _SECRET_WORDS):
                raise ValidationError(
                    {
                        "settings": f"{key!r} looks like a secret; store it in an environment "
                        f"variable or file and name that with {key}_env or {key}_file"
                    }
                )
