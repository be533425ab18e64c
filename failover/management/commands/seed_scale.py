import time

from django.core.management.base import BaseCommand, CommandError

from failover.demo.scale import seed_scale
from failover.models import Service


class Command(BaseCommand):
    help = (
        "Bulk-seed a large data set for the scale benchmark: services with complete chains, "
        "failover requests with their decisions and DNS changes, and audit events continuing "
        "the hash chain (verify_audit passes afterwards)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--services", type=int, default=10000)
        parser.add_argument("--requests", type=int, default=100000)
        parser.add_argument("--events", type=int, default=1000000)
        parser.add_argument("--prefix", default="scale", help="slug and username prefix")
        parser.add_argument(
            "--team-size", type=int, default=10, help="services held by one team's people"
        )

    def handle(self, *args, **options):
        prefix = options["prefix"]
        if min(options["services"], options["team_size"]) < 1:
            raise CommandError("--services and --team-size must be at least 1")
        if min(options["requests"], options["events"]) < 0:
            raise CommandError("--requests and --events cannot be negative")
        if Service.objects.filter(slug__startswith=f"{prefix}-").exists():
            raise CommandError(f"services with the prefix '{prefix}' exist; use another --prefix")
        started = time.monotonic()

        def progress(message: str) -> None:
            self.stdout.write(f"[{time.monotonic() - started:7.1f} s] {message}")

        summary = seed_scale(
            services=options["services"],
            requests=options["requests"],
            events=options["events"],
            prefix=prefix,
            team_size=options["team_size"],
            progress=progress,
        )
        self.stdout.write(
            f"seeded {summary['services']} services, {summary['requests']} requests "
            f"({summary['pending']} pending), {summary['events']} audit events in "
            f"{time.monotonic() - started:.1f} s"
        )
