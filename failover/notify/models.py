"""Where a service's outbound notifications go, and the outbox of those to send."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models

from failover.secrets import decrypt, encrypt

# Audit events name their object by app label: those written before notify had an app of its
# own say "failover.…", and stay what they were (the chain hashes them).
ENDPOINT_TYPES = ("notify.notificationendpoint", "failover.notificationendpoint")


class NotificationEndpoint(models.Model):
    """Where a service's outbound notifications go (Slack-compatible or signed generic JSON).

    The URL is stored encrypted: a Slack incoming-webhook URL is itself the credential. Only
    its scheme, host and port (`url_display`) are shown in lists, the admin and logs. Set it
    with `set_url`, read it back (to post) with `get_url`.
    """

    class Format(models.TextChoices):
        SLACK = "slack", "Slack-compatible"
        GENERIC = "generic", "Generic JSON, HMAC-signed"

    MAX_URL_LENGTH = 2000
    MAX_DISPLAY_LENGTH = 300
    BAD_URL = "use an http:// or https:// URL with a host name"  # never quotes the URL
    _HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")

    service = models.ForeignKey(
        "failover.Service", on_delete=models.CASCADE, related_name="notification_endpoints"
    )
    name = models.CharField(max_length=100)
    url_encrypted = models.TextField(help_text="Encrypted webhook URL (for Slack, a credential)")
    url_display = models.CharField(
        max_length=MAX_DISPLAY_LENGTH,
        help_text="Scheme, host and port of the URL: all that is ever shown",
    )
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.GENERIC)
    secret = models.TextField(blank=True, help_text="Encrypted HMAC key (generic format)")
    events = models.JSONField(default=list, blank=True, help_text="Empty means every event")
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "failover_notificationendpoint"  # the table from before notify had an app
        ordering = ["service", "name"]

    def __str__(self) -> str:
        return f"{self.service.slug}: {self.name}"

    @classmethod
    def display_url(cls, url: str) -> str:
        """`scheme://host[:port]` of a webhook URL. Raises ValidationError, whose message
        never quotes the URL, unless it is an http(s) URL with a host."""
        if (
            not isinstance(url, str)
            or not url
            or len(url) > cls.MAX_URL_LENGTH
            or any(c.isspace() or not c.isprintable() for c in url)
        ):
            raise ValidationError(cls.BAD_URL)
        try:
            parts = urlsplit(url)
            port = parts.port  # a port that is not a number raises here
        except ValueError:
            raise ValidationError(cls.BAD_URL) from None
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        if scheme not in ("http", "https") or not host:
            raise ValidationError(cls.BAD_URL)
        if ":" in host:  # IPv6
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ValidationError(cls.BAD_URL) from None
            host = f"[{host}]"
        elif not cls._HOST.fullmatch(host):
            raise ValidationError(cls.BAD_URL)
        shown = f"{scheme}://{host}" + (f":{port}" if port is not None else "")
        if len(shown) > cls.MAX_DISPLAY_LENGTH:
            raise ValidationError(cls.BAD_URL)
        return shown

    def set_url(self, url: str) -> None:
        """Validate the URL, store it encrypted and keep its host for display (not saved)."""
        self.url_display = self.display_url(url)
        self.url_encrypted = encrypt(url)

    def get_url(self) -> str:
        """The full URL, to post to: never log it or show it. Raises ValueError when it
        cannot be decrypted with the configured key."""
        return decrypt(self.url_encrypted)


class Notification(models.Model):
    """One outbound notification (outbox row), sent by a task with retries."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        NotificationEndpoint, on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.CharField(max_length=40)
    request = models.ForeignKey(
        "failover.FailoverRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    payload = models.JSONField(default=dict, help_text='{"body": the JSON that is posted}')
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a queued notification may be tried (again); a running attempt "
        "moves it past its own end (a lease). Empty once sent or failed.",
    )
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "failover_notification"  # the table from before notify had an app
        ordering = ["-created_at"]
        # The sweep: queued rows whose next attempt is long past, oldest first.
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint} ({self.status})"
