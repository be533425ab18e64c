"""Give the app's PostgreSQL role its rights (run as the owner, after creating the role)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from audit import roles


class Command(BaseCommand):
    help = (
        "As the owner: let ROLE read and write the product's tables, only append audit events "
        "and checkpoints, and only read the chain head. Idempotent; `migrate` does it itself "
        "when DATABASE_APP_ROLE is set."
    )

    def add_arguments(self, parser):
        parser.add_argument("role")

    def handle(self, *args, role, **options):
        if connection.vendor != "postgresql":
            raise CommandError("database roles are a PostgreSQL matter: nothing to do on SQLite")
        try:
            roles.grant(role)
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"granted {role} the app's rights on {connection.settings_dict['NAME']}")
