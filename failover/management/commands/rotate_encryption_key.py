"""Re-encrypt every stored secret under the first SECRETS_ENCRYPTION_KEY (README, 'Stored
secrets'): PagerDuty HMAC keys of integrations, notification endpoints' URLs and secrets,
identity drill clients' secrets."""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from approvals.readiness.identity_drill import reencrypt_drill_client_secrets
from audit.actions import SECRETS_REENCRYPTED
from audit.services import record_event
from failover.intake.models import Integration
from failover.notify.models import NotificationEndpoint
from failover.secrets import reencrypt


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the first SECRETS_ENCRYPTION_KEY."

    def add_arguments(self, parser):
        parser.add_argument(
            "--generate", action="store_true", help="print a new key and change nothing"
        )

    def handle(self, generate, **options):
        if generate:
            self.stdout.write(Fernet.generate_key().decode())
            return
        if not settings.SECRETS_ENCRYPTION_KEYS:
            raise CommandError(
                "set SECRETS_ENCRYPTION_KEY first (a key from --generate; during a rotation "
                "NEW,OLD): secrets are re-encrypted under its first key"
            )
        with transaction.atomic():
            unreadable, counts = [], {"integrations": 0, "notification_endpoints": 0}
            for integration in Integration.objects.select_for_update().order_by("pk"):
                entries = []
                for entry in integration.secrets or []:
                    if isinstance(entry, dict) and isinstance(entry.get("fernet"), str):
                        try:
                            entry = {**entry, "fernet": reencrypt(entry["fernet"])}
                        except ValueError:
                            unreadable.append(f"integration {integration.name}")
                    entries.append(entry)
                integration.secrets = entries
                integration.save(update_fields=["secrets"])
                counts["integrations"] += 1
            for endpoint in NotificationEndpoint.objects.select_for_update().order_by("pk"):
                try:
                    endpoint.url_encrypted = reencrypt(endpoint.url_encrypted)
                    if endpoint.secret:
                        endpoint.secret = reencrypt(endpoint.secret)
                except ValueError:
                    unreadable.append(f"notification endpoint {endpoint.name}")
                    continue
                endpoint.save(update_fields=["url_encrypted", "secret"])
                counts["notification_endpoints"] += 1
            counts["identity_drill_clients"], unopened = reencrypt_drill_client_secrets()
            unreadable += [f"identity drill client {name}" for name in unopened]
            if unreadable:
                raise CommandError(
                    "nothing was changed: no configured key opens the secrets of "
                    + ", ".join(unreadable)
                    + " (add the key they were stored under to SECRETS_ENCRYPTION_KEY, after "
                    "the new one, or set the secret anew)"
                )
            record_event(action=SECRETS_REENCRYPTED, actor=None, data=counts)
        self.stdout.write(
            f"re-encrypted the secrets of {counts['integrations']} integration(s) and "
            f"{counts['notification_endpoints']} notification endpoint(s) and "
            f"{counts['identity_drill_clients']} identity drill client(s) under the first key; "
            "the other keys can now be removed from SECRETS_ENCRYPTION_KEY"
        )
