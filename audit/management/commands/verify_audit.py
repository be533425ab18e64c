import os

from django.core.management.base import BaseCommand, CommandError

from audit.verify import verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's hash chain and name the first broken event."

    def add_arguments(self, parser):
        parser.add_argument(
            "--workers",
            type=int,
            default=min(4, os.cpu_count() or 1),
            help="processes that verify parts of a long chain on PostgreSQL (default: CPUs, "
            "at most 4; 1 walks it in this process)",
        )

    def handle(self, *args, workers, **options):
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        result = verify_chain(workers=workers)
        if not result.ok:
            raise CommandError(
                f"audit chain BROKEN at event #{result.first_broken_seq}: {result.reason} "
                f"({result.verified} events verified before it)"
            )
        self.stdout.write(f"audit chain OK: {result.verified} events verified")
