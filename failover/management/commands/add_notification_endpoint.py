"""Add a webhook endpoint to a service's notifications.

The URL is stored encrypted (a Slack incoming-webhook URL is itself a credential) and only
its scheme and host are printed or audited. Give `-` as the URL to read it from the first
line of stdin, so it never appears in the shell history or the process list.

Generic endpoints sign each body with an HMAC secret: generated here (printed once, only
its encrypted form is stored) or read from stdin with --secret-stdin (after the URL, when
that is read from stdin too).
"""

from __future__ import annotations

import secrets
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.actions import CONFIG_CREATED
from audit.services import record_event
from failover.models import Service
from failover.notify.models import NotificationEndpoint
from failover.notify.payloads import EVENTS
from failover.secrets import encrypt

Format = NotificationEndpoint.Format


class Command(BaseCommand):
    help = "Add a Slack-compatible or signed generic webhook endpoint to a service."

    def add_arguments(self, parser):
        parser.add_argument("service", help="service slug")
        parser.add_argument("name")
        parser.add_argument("url", help="the webhook URL, or - to read it from stdin")
        parser.add_argument("--format", choices=Format.values, default=Format.GENERIC)
        parser.add_argument(
            "--events", default="", help=f"comma-separated, of: {', '.join(EVENTS)} (default all)"
        )
        parser.add_argument(
            "--secret-stdin", action="store_true", help="read the signing secret from stdin"
        )

    def handle(self, *args, service, name, url, format, events, secret_stdin, **options):
        if url == "-":
            url = sys.stdin.readline().strip()
        endpoint = NotificationEndpoint(name=name, format=format)
        try:
            endpoint.set_url(url)
        except ValidationError:
            # Never quote the URL: it may be the credential.
            raise CommandError("the URL must be an http:// or https:// URL") from None
        chosen = [e.strip() for e in events.split(",") if e.strip()]
        unknown = sorted(set(chosen) - set(EVENTS))
        if unknown:
            raise CommandError(f"unknown events {', '.join(unknown)}; known: {', '.join(EVENTS)}")
        target = Service.objects.filter(slug=service).first()
        if target is None:
            raise CommandError(f"no service {service!r}")
        if target.notification_endpoints.filter(name=name).exists():
            raise CommandError(f"service {service!r} already has an endpoint named {name!r}")
        plain = ""
        if format == Format.GENERIC:
            plain = sys.stdin.readline().strip() if secret_stdin else secrets.token_urlsafe(32)
            if len(plain) < 16:
                raise CommandError("the signing secret must be at least 16 characters")
        elif secret_stdin:
            raise CommandError("slack endpoints are not signed; drop --secret-stdin")
        endpoint.service = target
        endpoint.events = list(dict.fromkeys(chosen))
        endpoint.secret = encrypt(plain) if plain else ""
        with transaction.atomic():
            endpoint.save()
            record_event(
                action=CONFIG_CREATED,
                obj=endpoint,
                actor=None,
                data={
                    "object": str(endpoint),
                    "fields": {
                        "url": endpoint.url_display,
                        "format": format,
                        "events": endpoint.events,
                        "secret": "set" if plain else "not set",
                    },
                    "via": "manage.py add_notification_endpoint",
                },
            )
        self.stdout.write(
            f"Added endpoint #{endpoint.pk} {endpoint} ({format}) posting to "
            f"{endpoint.url_display}."
        )
        if plain and not secret_stdin:
            self.stdout.write("Signing secret (shown once, store it with the receiver now):")
            self.stdout.write(plain)
