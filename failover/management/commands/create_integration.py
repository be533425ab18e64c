"""Create a paging-tool integration and print its secret once; rotate or retire secrets.

    manage.py create_integration NAME --kind alertmanager --account pager-bot \
        --service SLUG [--service SLUG ...] [--rules JSON]
    manage.py create_integration --allow NAME --service SLUG     # may feed SLUG too
    manage.py create_integration --disallow NAME --service SLUG  # may no longer feed SLUG
    manage.py create_integration --rotate NAME        # adds a secret; old ones still work
    manage.py create_integration --retire-old NAME    # keeps only the newest secret

An integration feeds signals only to the services named with --service, and only where its
account also holds `declare`; without any it feeds nothing.

PagerDuty generates the signing secret of a webhook subscription itself: pipe it in with
--secret-stdin. The secret is stored hashed (or encrypted, for PagerDuty) and never shown again.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from failover.errors import ServiceError
from failover.intake import integrations, tools


class Command(BaseCommand):
    help = "Create a paging-tool integration (prints its secret once), or rotate its secrets."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="integration name (a slug)")
        parser.add_argument("--kind", choices=tools.kinds())
        parser.add_argument("--account", help="username of the service account it acts as")
        parser.add_argument("--rules", default="{}", help="mapping rules, a JSON object")
        parser.add_argument(
            "--service",
            action="append",
            default=[],
            metavar="SLUG",
            help="a service it may feed signals to (repeat for several; none feeds nothing)",
        )
        parser.add_argument("--allow", metavar="NAME", help="let NAME feed the --service(s)")
        parser.add_argument("--disallow", metavar="NAME", help="stop NAME feeding the --service(s)")
        parser.add_argument("--rate-limit", type=int, help="deliveries per minute (default 600)")
        parser.add_argument(
            "--secret-stdin", action="store_true", help="read the secret from stdin"
        )
        parser.add_argument("--rotate", metavar="NAME", help="add a new secret to NAME")
        parser.add_argument("--retire-old", metavar="NAME", help="keep only NAME's newest secret")

    def handle(self, *args, name=None, **options):
        try:
            if options["retire_old"]:
                integration = integrations.retire_old_secrets(
                    actor=None, name=options["retire_old"]
                )
                self.stdout.write(f"{integration.name}: older secrets retired; 1 remains")
                return
            if options["allow"] or options["disallow"]:
                self._change_services(options)
                return
            secret = self._stdin_secret() if options["secret_stdin"] else None
            if options["rotate"]:
                integration, plain = integrations.rotate_secret(
                    actor=None, name=options["rotate"], secret=secret
                )
                count = len(integration.secrets)
                self._print_secret(integration, plain, f"added; {count} secrets now valid")
                return
            integration, plain = integrations.create_integration(
                actor=None,
                name=name or "",
                kind=self._required(options, "kind"),
                account=self._required(options, "account"),
                rules=self._rules(options["rules"]),
                secret=secret,
                rate_limit_per_minute=options["rate_limit"],
                services=options["service"],
            )
        except ServiceError as exc:
            details = "; ".join(f"{k}: {v}" for k, v in exc.extra.get("fields", {}).items())
            raise CommandError(exc.message + (f" ({details})" if details else "")) from None
        note = tools.for_kind(integration.kind).generated_secret_note
        if note and not options["secret_stdin"]:
            self.stdout.write("note: " + note.format(name=integration.name), self.style.WARNING)
        self._warn_about_services(integration)
        self._print_secret(integration, plain, "created")

    def _change_services(self, options):
        slugs = options["service"]
        if not slugs:
            raise CommandError("--allow/--disallow need at least one --service SLUG")
        name = options["allow"] or options["disallow"]
        integration = integrations.change_allowed_services(
            actor=None,
            name=name,
            add=slugs if options["allow"] else (),
            remove=slugs if options["disallow"] else (),
        )
        self.stdout.write(f"{integration.name} may feed: {self._listing(integration)}")
        self._warn_about_services(integration)

    def _listing(self, integration):
        return ", ".join(integration.services.values_list("slug", flat=True)) or "no service"

    def _warn_about_services(self, integration):
        if not integration.services.exists():
            self.stdout.write(
                f"note: {integration.name} feeds no service yet; allow one with "
                f"--allow {integration.name} --service SLUG",
                self.style.WARNING,
            )
        for slug in integrations.without_declare(integration):
            self.stdout.write(
                f"note: {integration.account.username} does not hold 'declare' on {slug}: "
                f"its signals are refused until granted "
                f"(manage.py grant_authority {slug} declare --user {integration.account.username})",
                self.style.WARNING,
            )

    def _required(self, options, key):
        if not options[key]:
            raise CommandError(f"--{key} is required to create an integration")
        return options[key]

    def _rules(self, raw):
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise CommandError(f"--rules is not JSON: {exc}") from None

    def _stdin_secret(self):
        line = sys.stdin.readline().strip()
        if not line:
            raise CommandError("--secret-stdin: nothing on stdin")
        return line

    def _print_secret(self, integration, plain, what):
        self.stdout.write(f"integration {integration.name} ({integration.kind}): secret {what}")
        self.stdout.write(
            f"URL: /api/v1/integrations/{integration.kind}/?integration={integration.name}"
        )
        self.stdout.write("secret (shown once, store it in the paging tool now; last line):")
        self.stdout.write(plain)
