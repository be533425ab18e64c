"""Exit 0 when each named heartbeat is fresh, 1 with a one-line reason on stderr otherwise.

For container health checks: `manage.py check_heartbeat beat` in beat's container,
`check_heartbeat queue:critical` in a worker's. Names and freshness: failover/heartbeat.py.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from failover import heartbeat


class Command(BaseCommand):
    help = "Exit 0 when every named heartbeat (beat, queue:<name>) is fresh, else 1."
    requires_system_checks: list = []  # a health check runs often: no system checks each time

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="+", metavar="NAME", help="beat, queue:critical, …")

    def handle(self, *args: object, names: list[str], **options: Any) -> None:
        try:
            ages = heartbeat.ages_of(names)
        except DatabaseError as exc:
            raise CommandError(f"the database does not answer: {type(exc).__name__}") from None
        limit = settings.HEARTBEAT_STALE_SECONDS
        late = [
            f"{name} never recorded" if age is None else f"{name} {age:.0f} s old"
            for name, age in ages.items()
            if heartbeat.is_stale(age)
        ]
        if late:
            raise CommandError(f"stale (over {limit} s): " + ", ".join(late))
        if options["verbosity"] > 1:
            self.stdout.write(", ".join(f"{name} {age:.0f} s old" for name, age in ages.items()))
